#!/usr/bin/env python3
"""Generate the IOTP v1.0 (RFC 2801) golden corpus: tests/data/valid and tests/data/invalid.

Deterministic: running it twice gives byte-identical files.  Needs Python 3.9+ and the
`cryptography` package (for the seeded RSA test key and its X.509 certificate).

    python3 tests/data/valid/tools/gen_corpus.py

Signatures are real (see ../README.md): Digest values are DOMHASH-SHA1 (RFC 2803) of the
element as serialised here; HMAC values are HMAC-SHA1(key, DOMHASH-SHA1(Manifest)) with
key = UTF-8("iotp-test-secret:" + KeyIdentifier/@value); RSA values are RSASSA-PKCS1-v1_5
with SHA-1 over DOMHASH-SHA1(Manifest), verifiable with the certificate in the message.
"""

import base64
import hashlib
import hmac
import os
import random
import re
import struct
import sys
from datetime import datetime, timedelta, timezone
from xml.dom import Node, minidom

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
VALID = os.path.dirname(HERE)
INVALID = os.path.join(os.path.dirname(VALID), "invalid")
NS = "iotp:ietf.org/iotp-v1.0"
HMAC_PREFIX = "iotp-test-secret:"

# --------------------------------------------------------------------------------------
# Minimal element tree and serialiser (1-space indentation per depth, like the samples).
# Components always sit at depth 2 (children of a block), so a copied component
# serialises identically in every message and keeps the same DOMHASH.
# --------------------------------------------------------------------------------------


class E:
    def __init__(self, tag, attrs=None, kids=None, text=None, cdata=False):
        self.tag = tag
        self.attrs = dict(attrs or {})
        self.kids = list(kids or [])
        self.text = text
        self.cdata = cdata

    @property
    def id(self):
        return self.attrs["ID"]


def esc_attr(v):
    return v.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def esc_text(v):
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def ser(e, depth, out):
    ind = " " * depth
    a = "".join(' %s="%s"' % (k, esc_attr(v)) for k, v in e.attrs.items() if v is not None)
    if e.kids:
        out.append("%s<%s%s>" % (ind, e.tag, a))
        for k in e.kids:
            ser(k, depth + 1, out)
        out.append("%s</%s>" % (ind, e.tag))
    elif e.text is not None:
        t = "<![CDATA[%s]]>" % e.text if e.cdata else esc_text(e.text)
        out.append("%s<%s%s>%s</%s>" % (ind, e.tag, a, t, e.tag))
    else:
        out.append("%s<%s%s/>" % (ind, e.tag, a))


def serialize_root(root):
    out = []
    ser(root, 0, out)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------
# DOMHASH (RFC 2803), as in spec/domhash_ref.py
# --------------------------------------------------------------------------------------


def _u16(s):
    return s.encode("utf-16-be")


def _expanded(n):
    if n.namespaceURI:
        return n.namespaceURI + ":" + (n.localName or n.nodeName)
    return n.nodeName


def _h(b):
    return hashlib.sha1(b).digest()


def domhash(n):
    t = n.nodeType
    if t in (Node.TEXT_NODE, Node.CDATA_SECTION_NODE):
        return _h(struct.pack(">I", 3) + _u16(n.data))
    if t == Node.PROCESSING_INSTRUCTION_NODE:
        return _h(struct.pack(">I", 7) + _u16(n.target) + b"\0\0" + _u16(n.data))
    if t == Node.ATTRIBUTE_NODE:
        return _h(struct.pack(">I", 2) + _u16(_expanded(n)) + b"\0\0" + _u16(n.value))
    if t == Node.ELEMENT_NODE:
        attrs = [a for a in n.attributes.values() if not (a.name == "xmlns" or a.name.startswith("xmlns:"))]
        attrs.sort(key=lambda a: _u16(_expanded(a)))
        out = struct.pack(">I", 1) + _u16(_expanded(n)) + b"\0\0" + struct.pack(">I", len(attrs))
        for a in attrs:
            out += domhash(a)
        kids, buf = [], None
        for c in n.childNodes:
            if c.nodeType in (Node.TEXT_NODE, Node.CDATA_SECTION_NODE):
                buf = (buf or "") + c.data
                continue
            if buf is not None:
                if buf != "":
                    kids.append(("T", buf))
                buf = None
            if c.nodeType == Node.COMMENT_NODE:
                continue
            kids.append(("N", c))
        if buf:
            kids.append(("T", buf))
        out += struct.pack(">I", len(kids))
        for k, v in kids:
            out += _h(struct.pack(">I", 3) + _u16(v)) if k == "T" else domhash(v)
        return _h(out)
    raise ValueError(t)


def parse(text):
    return minidom.parseString(text.encode("utf-8") if isinstance(text, str) else text)


def id_map(doc, strict=True):
    ids = {}
    for el in doc.getElementsByTagName("*"):
        v = el.getAttribute("ID")
        if v:
            if v in ids and strict:
                raise SystemExit("duplicate ID %s" % v)
            ids.setdefault(v, el)
    return ids


def b64(b):
    return base64.b64encode(b).decode("ascii")


# --------------------------------------------------------------------------------------
# Deterministic RSA test key and self-signed certificate (TEST ONLY).
# --------------------------------------------------------------------------------------


def _is_probable_prime(n, rng, rounds=40):
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for _ in range(rounds):
        a = rng.randrange(2, n - 2)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(rng, bits, e):
    while True:
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if (n - 1) % e and _is_probable_prime(n, rng):
            return n


def test_rsa_key(seed):
    rng = random.Random(seed)
    e = 65537
    p = _prime(rng, 1024, e)
    q = _prime(rng, 1024, e)
    if p < q:
        p, q = q, p
    n = p * q
    d = pow(e, -1, (p - 1) * (q - 1))
    pub = rsa.RSAPublicNumbers(e, n)
    priv = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), pub
    )
    return priv.private_key()


class TestCert:
    def __init__(self, seed, cn, org, serial):
        self.key = test_rsa_key(seed)
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
            ]
        )
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(serial)
            .not_valid_before(datetime(2000, 1, 1, tzinfo=timezone.utc))
            .not_valid_after(datetime(2049, 12, 31, 23, 59, 59, tzinfo=timezone.utc))
            .sign(self.key, hashes.SHA256())
        )
        self.der = cert.public_bytes(serialization.Encoding.DER)
        self.issuer = cert.issuer.rfc4514_string()
        self.number = str(serial)

    def sign(self, digest):
        return self.key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))


MERCHANT_CERT = TestCert("iotp-golden-corpus:books.example.com", "Example Books IOTP signing key (TEST ONLY)",
                         "Example Books Ltd.", 2000041201)


def hmac_value(keyname, digest):
    return hmac.new((HMAC_PREFIX + keyname).encode("utf-8"), digest, hashlib.sha1).digest()


# --------------------------------------------------------------------------------------
# Transactions and messages
# --------------------------------------------------------------------------------------

SOFTWARE = {
    "M": "Example Corp. ExampleIOTP Merchant Server 1.0 build 417",
    "C": "Example Corp. ExampleIOTP Wallet 1.0 build 417",
    "P": "Example Corp. ExampleIOTP Payment Handler 1.0 build 417",
    "R": "Example Corp. ExampleIOTP Payment Handler 1.0 build 417",
    "D": "Example Corp. ExampleIOTP Delivery Handler 1.0 build 417",
    "I": "Example Corp. ExampleIOTP Wallet 1.0 build 417",
    "Q": "Example Corp. ExampleIOTP Payment Handler 1.0 build 417",
}

T0 = datetime(2000, 4, 12, 10, 15, 0, tzinfo=timezone.utc)


def ts(base, minutes=0.0):
    return (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


ALL_TXNS = []
FILES = {}  # file name -> text
MSG_BY_FILE = {}  # file name -> Msg


class Txn:
    def __init__(self, name, tid, ttype, start, transtimestamp=None):
        self.name = name
        self.tid = tid
        self.ttype = ttype
        self.start = start
        self.transtimestamp = transtimestamp or ts(start)
        self.transid = None
        self.msgs = []
        self.dom = {}  # ID -> minidom element (first occurrence in the transaction)
        self.hash = {}  # ID -> DOMHASH (copies must be identical)
        self.files = []
        self.related_txn = None  # for inquiries: the inquired transaction
        ALL_TXNS.append(self)

    def lookup(self, ident):
        if ident in self.dom:
            return self.dom[ident]
        if self.related_txn is not None:
            return self.related_txn.lookup(ident)
        return None


class SigSpec:
    """A Signature component created in a message, with what it must digest."""

    def __init__(self, msg, sigtype, originator, targets, scheme, recipients, cert=None, cert_by_locator=None,
                 locator_style="2801", extra_attributes=()):
        self.msg = msg
        self.scheme = scheme
        txn = msg.txn
        sid = msg.nid()
        a_dom, a_sha, a_sig = msg.nid(), msg.nid(), msg.nid()
        algs = [
            E("Algorithm", {"ID": a_dom, "type": "digest", "name": "urn:ibm:dom-hash"},
              [E("Parameter", {"type": "AlgorithmRef"}, text=a_sha)]),
            E("Algorithm", {"ID": a_sha, "type": "digest", "name": "urn:fips:sha1"}),
        ]
        if scheme == "rsa":
            algs.append(E("Algorithm", {"ID": a_sig, "type": "signature", "name": "urn:rsa:rsa"},
                          [E("Parameter", {"type": "AlgorithmRef"}, text=a_dom)]))
        else:
            algs.append(E("Algorithm", {"ID": a_sig, "type": "signature", "name": "urn:ibm:hmac"},
                          [E("Parameter", {"type": "AlgorithmRef"}, text=a_dom),
                           E("Parameter", {"type": "HashAlgorithmRef"}, text=a_sha)]))
        self.digests = []
        digests = []
        for t in targets:
            vid = msg.nid()
            if locator_style == "2801":
                href = "#" + t
            elif locator_style == "2802":
                href = t
            else:
                href = txn.tid + "#" + t
            loc_attrs = {"href": href}
            v = E("Value", {"ID": vid}, text="")
            digests.append(E("Digest", {"DigestAlgorithmRef": a_dom}, [E("Locator", loc_attrs), v]))
            self.digests.append((v, t))
        attributes = [E("Attribute", {"type": "IOTPSignatureType", "critical": "true"}, text=sigtype)]
        attributes += [E("Attribute", {"type": t, "critical": "false"}, text=v) for t, v in extra_attributes]
        self.values = []
        rinfos = []
        values = []
        self.cert = None
        if scheme == "rsa":
            vid = msg.nid()
            cid = msg.nid() if cert else None
            orig_kids = [E("IssuerAndSerialNumber", {"issuer": cert.issuer, "number": cert.number})] if cert else []
            ri = {"SignatureAlgorithmRef": a_sig, "SignatureValueRef": vid}
            if cid:
                ri["SignatureCertRef"] = cid
            if recipients:
                ri["RecipientRefs"] = " ".join(recipients[0][0])
            rinfos.append(E("RecipientInfo", ri))
            v = E("Value", {"ID": vid, "encoding": "base64"}, text="")
            values.append(v)
            self.values.append((v, "rsa", cert))
            if cert:
                if cert_by_locator:
                    body = E("Locator", {"xml:link": "simple", "href": cert_by_locator})
                else:
                    body = E("Value", {"ID": msg.nid()}, text=b64(cert.der))
                self.cert = E("Certificate", {"ID": cid, "type": "urn:X500:X509v3"},
                              [E("IssuerAndSerialNumber", {"issuer": cert.issuer, "number": cert.number}), body])
        else:
            orig_kids = []
            for orgs, keyname in recipients:
                vid = msg.nid()
                rinfos.append(E("RecipientInfo", {"SignatureAlgorithmRef": a_sig, "SignatureValueRef": vid,
                                                  "RecipientRefs": " ".join(orgs)},
                                [E("KeyIdentifier", {"value": keyname})]))
                v = E("Value", {"ID": vid}, text="")
                values.append(v)
                self.values.append((v, "hmac", keyname))
        man_attrs = {}
        if locator_style == "2801":
            man_attrs["LocatorHRefBase"] = txn.tid
        elif locator_style == "2802":
            man_attrs["LocatorHRefBase"] = "iotp:" + txn.tid
        manifest = E("Manifest", man_attrs,
                     algs + digests + attributes + [E("OriginatorInfo", {"OriginatorRef": originator}, orig_kids)] + rinfos)
        self.sig = E("Signature", {"ID": sid}, [manifest] + values)
        self.sid = sid
        msg.new_sigs.append(self)


class Msg:
    def __init__(self, txn, mid, slug, minutes, resp=None, sender=None, lang_pref=None, charset_pref=None,
                 timestamp=True, new_transid=False, software=None):
        self.software = software or SOFTWARE[mid[0]]
        self.txn = txn
        self.mid = mid
        self.slug = slug
        self.n = 0
        self.resp = resp
        self.sender = sender
        self.lang_pref = lang_pref
        self.charset_pref = charset_pref
        self.timestamp = ts(txn.start, minutes) if timestamp else None
        self.trb_id = self.nid()
        if txn.transid is None or new_transid:
            txn.transid = E("TransId", {"ID": self.nid(), "Version": "1.0", "IotpTransId": txn.tid,
                                         "IotpTransType": txn.ttype, "TransTimeStamp": txn.transtimestamp})
        self.transid = txn.transid
        self.related = []
        self.sig_block_id = None
        self.sig_items = None  # list of Signature/Certificate elements
        self.errblk = None
        self.blocks = []
        self.new_sigs = []
        self.extra_root_attrs = {}
        txn.msgs.append(self)

    def nid(self):
        self.n += 1
        return "%s.%d" % (self.mid, self.n)

    def sigblock(self, items, with_id=True):
        self.sig_block_id = self.nid() if with_id else None
        self.sig_items = items

    def root(self):
        mattrs = {"ID": self.mid}
        if self.resp:
            mattrs["RespIotpMsg"] = self.resp
        mattrs["xml:lang"] = "en"
        if self.lang_pref:
            mattrs["LangPrefList"] = self.lang_pref
        if self.charset_pref:
            mattrs["CharSetPrefList"] = self.charset_pref
        if self.sender:
            mattrs["SenderTradingRoleRef"] = self.sender
        mattrs["SoftwareId"] = self.software
        if self.timestamp:
            mattrs["TimeStamp"] = self.timestamp
        trb = E("TransRefBlk", {"ID": self.trb_id}, [self.transid, E("MsgId", mattrs)] + self.related)
        kids = [trb]
        if self.sig_items is not None:
            sattrs = {"ID": self.sig_block_id} if self.sig_block_id else {}
            kids.append(E("IotpSignatures", sattrs, self.sig_items))
        if self.errblk is not None:
            kids.append(self.errblk)
        kids += self.blocks
        attrs = {"xmlns": NS}
        attrs.update(self.extra_root_attrs)
        return E("IotpMessage", attrs, kids)

    def text(self):
        return serialize_root(self.root())

    def finalize(self, fname=None):
        txn = self.txn
        if self.new_sigs:
            ids = id_map(parse(self.text()))
            for spec in self.new_sigs:
                for v, target in spec.digests:
                    el = ids.get(target) or txn.lookup(target)
                    if el is None:
                        raise SystemExit("%s: digest target %s not found" % (self.mid, target))
                    v.text = b64(domhash(el))
            ids = id_map(parse(self.text()))
            for spec in self.new_sigs:
                man = [c for c in ids[spec.sid].childNodes if c.nodeType == Node.ELEMENT_NODE][0]
                h = domhash(man)
                for v, scheme, key in spec.values:
                    v.text = b64(key.sign(h) if scheme == "rsa" else hmac_value(key, h))
        text = self.text()
        doc = parse(text)
        ids = id_map(doc)
        for ident, el in ids.items():
            hsh = domhash(el)
            if ident in txn.hash:
                if txn.hash[ident] != hsh:
                    raise SystemExit("%s: copy of %s differs from its first use" % (self.mid, ident))
            else:
                txn.hash[ident] = hsh
                txn.dom[ident] = el
        fname = fname or "%s-%02d-%s.xml" % (txn.name, len(txn.files) + 1, self.slug)
        txn.files.append(fname)
        FILES[fname] = text
        MSG_BY_FILE[fname] = self
        return fname


# --------------------------------------------------------------------------------------
# Component helpers
# --------------------------------------------------------------------------------------


def pc(text, name=None, content=None, transform=None, cdata=False):
    a = {}
    if name:
        a["Name"] = name
    if content:
        a["Content"] = content
    if transform:
        a["Transform"] = transform
    return E("PackagedContent", a, text=text, cdata=cdata)


def pc64(data, name=None, content=None, wrap=None):
    s = b64(data.encode("utf-8") if isinstance(data, str) else data)
    if wrap:
        s = "\n" + "\n".join(s[i:i + wrap] for i in range(0, len(s), wrap)) + "\n"
    return pc(s, name, content, "BASE64")


NET_ROLE_PATH = {"Merchant": "merchant", "PaymentHandler": "payment", "DeliveryHandler": "delivery"}


def trading_role(msg, role, prefix, domain):
    a = {"ID": msg.nid(), "TradingRole": role, "IotpMsgIdPrefix": prefix}
    if role in NET_ROLE_PATH:
        p = NET_ROLE_PATH[role]
        a["CancelNetLocn"] = "https://%s/iotp/%s/cancelled" % (domain, p)
        a["ErrorNetLocn"] = "https://%s/iotp/%s/error" % (domain, p)
        a["ErrorLogNetLocn"] = "https://%s/iotp/%s/errorlog" % (domain, p)
    return E("TradingRole", a)


def org(msg, orgid, roles, legal=None, short=None, domain=None, contact=None, person=None, address=None,
        logo=False, lang="en"):
    oid = msg.nid()
    trs = [trading_role(msg, r, p, domain or orgid) for r, p in roles]
    kids = list(trs)
    if contact:
        kids.append(E("ContactInfo", contact))
    if person:
        kids.append(E("PersonName", person))
    if address:
        kids.append(E("PostalAddress", address))
    a = {"ID": oid, "xml:lang": lang, "OrgId": orgid}
    if legal:
        a["LegalName"] = legal
    if short:
        a["ShortDesc"] = short
    if logo:
        a["LogoNetLocn"] = "https://%s/logos" % (domain or orgid)
    o = E("Org", a, kids)
    o.tr = {t.attrs["TradingRole"]: t.attrs["ID"] for t in trs}
    return o


def company(msg, domain, legal, short, roles, street, city, region, postcode, country, tel, full=False):
    contact = {"Tel": tel, "Email": "iotp-support@" + domain, "NetLocn": "https://%s/" % domain}
    if full:
        contact = {"xml:lang": "en", "Tel": tel, "Fax": tel[:-1] + "9", "Email": "iotp-support@" + domain,
                   "NetLocn": "https://%s/" % domain}
    addr = {"AddressLine1": street, "CityOrTown": city, "StateOrRegion": region, "PostalCode": postcode,
            "Country": country, "LegalLocation": "True"}
    if full:
        addr = {"xml:lang": "en", "AddressLine1": street, "AddressLine2": "Suite 100", "CityOrTown": city,
                "StateOrRegion": region, "PostalCode": postcode, "Country": country, "LegalLocation": "True"}
    return org(msg, domain, roles, legal=legal, short=short, contact=contact, address=addr, logo=full)


CONSUMER_ID = "Consumer:JQC1000247/books.example.com"
ADDR = {"books.example.com": ("1 Market Street", "San Francisco", "CA", "94105", "US", "+1 415 555 0100"),
        "bank.example.com": ("1 Bank Plaza", "Chicago", "IL", "60603", "US", "+1 312 555 0111")}


def consumer(msg, orgid=CONSUMER_ID, delivto=True, address=True, person=True):
    roles = [("Consumer", "C")] + ([("DelivTo", "C")] if delivto else [])
    addr = None
    if address:
        addr = {"xml:lang": "en", "AddressLine1": "12 Meadow Lane", "AddressLine2": "Apartment 4",
                "CityOrTown": "Springfield", "StateOrRegion": "IL", "PostalCode": "62704", "Country": "US",
                "LegalLocation": "False"}
    pn = {"xml:lang": "en", "Title": "Ms", "GivenName": "Jane", "Initials": "Q", "FamilyName": "Consumer"} if person else None
    return org(msg, orgid, roles, short="Jane Q. Consumer",
               contact={"Tel": "+1 217 555 0147", "Email": "jane.consumer@mail.example.org"},
               person=pn, address=addr)


def protocol_options(msg, desc, domain, secure_only=False):
    a = {"ID": msg.nid(), "xml:lang": "en", "ShortDesc": desc}
    if not secure_only:
        a["SenderNetLocn"] = "http://%s/iotp/tpo" % domain
    a["SecureSenderNetLocn"] = "https://%s/iotp/tpo" % domain
    a["SuccessNetLocn"] = "https://%s/iotp/thank-you" % domain
    return E("ProtocolOptions", a)


def brand_list(msg, short, direction, brands, pas, cas, pps):
    """brands: list of dicts(key, attrs, pas=[pa keys], kids=[]); pas: (key, pp key, [ca keys], extra, kids);
    cas: (key, amount, code, codetype); pps: (key, attrs, kids).  ActionOrgRef patched later."""
    blid = msg.nid()
    ids = {}
    for b in brands:
        ids[b["key"]] = msg.nid()
    for p in pas:
        ids[p[0]] = msg.nid()
    for c in cas:
        ids[c[0]] = msg.nid()
    for p in pps:
        ids[p[0]] = msg.nid()
    kids = []
    for b in brands:
        a = {"ID": ids[b["key"]]}
        a.update(b["attrs"])
        a["ProtocolAmountRefs"] = " ".join(ids[k] for k in b["pas"])
        if "csid" in b:
            a["ContentSoftwareId"] = b["csid"]
        kids.append(E("Brand", a, b.get("kids", [])))
    for key, ppk, cak, extra, pkids in pas:
        a = {"ID": ids[key], "PayProtocolRef": ids[ppk], "CurrencyAmountRefs": " ".join(ids[k] for k in cak)}
        a.update(extra)
        kids.append(E("ProtocolAmount", a, pkids))
    for key, amount, code, codetype in cas:
        a = {"ID": ids[key], "Amount": amount}
        if codetype:
            a["CurrCodeType"] = codetype
        a["CurrCode"] = code
        kids.append(E("CurrencyAmount", a))
    ppel = {}
    for key, attrs, pkids in pps:
        a = {"ID": ids[key]}
        a.update(attrs)
        ppel[key] = E("PayProtocol", a, pkids)
        kids.append(ppel[key])
    bl = E("BrandList", {"ID": blid, "xml:lang": "en", "ShortDesc": short, "PayDirection": direction}, kids)
    bl.ids = ids
    bl.pp = ppel
    return bl


def pay_protocol_attrs(pid, name, action=None, url=None, secure=None, lang=None, csid=None):
    a = {}
    if lang:
        a["xml:lang"] = lang
    a["ProtocolId"] = pid
    a["ProtocolName"] = name
    a["ActionOrgRef"] = action
    if url:
        a["PayReqNetLocn"] = url
    if secure:
        a["SecPayReqNetLocn"] = secure
    if csid:
        a["ContentSoftwareId"] = csid
    return a


def status(msg, stype, elref, state, code=None, ref=None, desc=None):
    a = {"ID": msg.nid(), "xml:lang": "en", "StatusType": stype}
    if elref:
        a["ElRef"] = elref
    a["ProcessState"] = state
    if code:
        a["CompletionCode"] = code
    if ref:
        a["ProcessReference"] = ref
    if desc:
        a["StatusDesc"] = desc
    return E("Status", a)


def order(msg, ident, desc, okfrom, okto, law="State of California, USA", kids=(), csid=None):
    a = {"ID": msg.nid(), "xml:lang": "en", "OrderIdentifier": ident, "ShortDesc": desc, "OkFrom": okfrom,
         "OkTo": okto, "ApplicableLaw": law}
    if csid:
        a["ContentSoftwareId"] = csid
    return E("Order", a, list(kids))


def payment(msg, bl, okfrom, okto, signed, after=None):
    a = {"ID": msg.nid(), "OkFrom": okfrom, "OkTo": okto, "BrandListRef": bl.id, "SignedPayReceipt": signed}
    if after:
        a["StartAfterRefs"] = after
    return E("Payment", a)


def brand_selection(msg, bl, brand, pa, ca, kids=()):
    return E("BrandSelection", {"ID": msg.nid(), "BrandListRef": bl.id, "BrandRef": bl.ids[brand],
                                "ProtocolAmountRef": bl.ids[pa], "CurrencyAmountRef": bl.ids[ca]}, list(kids))


def psd(msg, pcs, payref=None, cpid=None, phid=None, csid=None):
    a = {"ID": msg.nid()}
    if payref:
        a["PaymentRef"] = payref
    if cpid:
        a["ConsumerPaymentId"] = cpid
    if phid:
        a["PaymentHandlerPayId"] = phid
    if csid:
        a["ContentSoftwareId"] = csid
    return E("PaySchemeData", a, pcs)


def trd(msg, origin, dests, pcs):
    return E("TradingRoleData", {"ID": msg.nid(), "OriginatorElRef": origin, "DestinationElRefs": dests}, pcs)


def ecml(body):
    return '<Ecom SchemaVersion="urn:ietf:params:ecml:v2.0">%s</Ecom>' % body


SCCD_ACCEPT = ecml('<Ecom Mode="Query"/><Payment><Card Type="VISA"/><Card Type="MAST"/></Payment>'
                   '<BillTo><Postal><PostalCode/><CountryCode/></Postal></BillTo>')
SCCD_PA = "Content-Transfer-Encoding: base64\r\nSET-Initiation-Type: Payment-Initiation\r\n"


def sccd_card(amount, cur, name="Jane Q Consumer", number="4111111111111111"):
    return ecml('<Payment><Card Name="%s" Type="VISA" Number="%s" Verification="123"><ExpDate Month="12" '
                'Year="2030"/></Card></Payment><BillTo><Postal PostalCode="62704" CountryCode="US"/></BillTo>'
                '<Transaction Amount="%s" Currency="%s" Type="debit"/>' % (name, number, amount, cur))


def sccd_auth(amount, cur, ref, typ="debit"):
    return ecml('<Transaction Amount="%s" Currency="%s" Type="%s"><Id Reference="%s" Acquire="411111******1111"/>'
                '<Code Approval="A7C3Q9" Action="approve" Reason="00"/></Transaction>' % (amount, cur, typ, ref))


def ecash_keys():
    return ('<ECashKeys KeySet="2000-Q2" Variant="RSABSSA-SHA384-PSS-Randomized"><Denomination Value="1.00" '
            'Currency="USD" KeyId="k1"/><Denomination Value="5.00" Currency="USD" KeyId="k5"/></ECashKeys>')


# --------------------------------------------------------------------------------------
# 1. Brand dependent purchase: TPO, TPO Selection, Offer Response (signed, RSA + cert),
#    Payment Request, Payment Exchange x2, Payment Response (signed), Delivery Request,
#    Delivery Response (signed).
# --------------------------------------------------------------------------------------


def build_purchase():
    T = Txn("purchase", "20000412101500.000001@books.example.com", "BaselinePurchase", T0)
    day, week = ts(T0, 24 * 60), ts(T0, 7 * 24 * 60)
    m1 = Msg(T, "M1", "tpo", 0)
    tpo_id = m1.nid()
    po = protocol_options(m1, "Purchase of two books from Example Books", "books.example.com")
    bl = brand_list(
        m1, "Payment for Example Books order 2000-0412-0001", "Debit",
        brands=[
            {"key": "visa", "attrs": {"xml:lang": "en", "BrandId": "VISA", "BrandName": "Visa",
                                      "BrandLogoNetLocn": "https://logos.example.net/brands/visa"},
             "pas": ["pa_sccd", "pa_set"], "kids": [E("ProtocolBrand", {"ProtocolId": "SETv1.0", "ProtocolBrandId": "VISA"})]},
            {"key": "mc", "attrs": {"xml:lang": "en", "BrandId": "MasterCard", "BrandName": "MasterCard Credit",
                                    "BrandLogoNetLocn": "https://logos.example.net/brands/mastercard"},
             "pas": ["pa_sccd", "pa_set"],
             "kids": [E("ProtocolBrand", {"ProtocolId": "SETv1.0", "ProtocolBrandId": "MasterCard"},
                        [pc("MasterCard:Credit", name="SET-BrandInfo")])]},
            {"key": "store", "attrs": {"xml:lang": "en", "BrandId": "x-storecard.books.example.com",
                                       "BrandName": "Example Books Store Card",
                                       "BrandLogoNetLocn": "https://books.example.com/logos/storecard",
                                       "BrandNarrative": "5% off with your Example Books Store Card"},
             "pas": ["pa_store"], "csid": "Example Corp. StoreCard plug-in 2.1 build 7",
             "kids": [pc("Store Card holders earn double points on every order.", name="CardProgram")]},
        ],
        pas=[("pa_sccd", "pp_sccd", ["ca_usd", "ca_eur"], {}, []),
             ("pa_set", "pp_set", ["ca_usd"], {"ContentSoftwareId": "Example Corp. SET module 1.0 build 3"},
              [pc64("SET-PurchAmt: 840 3995 -2\r\n", name="SET-PurchAmt")]),
             ("pa_store", "pp_sccd", ["ca_store"], {}, [])],
        cas=[("ca_usd", "39.95", "USD", None), ("ca_eur", "36.70", "EUR", "ISO4217-A"), ("ca_store", "37.95", "USD", None)],
        pps=[("pp_sccd", pay_protocol_attrs("SCCD1.0", "Secure Channel Credit/Debit", lang="en",
                                            secure="https://pay.example.net/iotp/sccd/payreq"),
              [pc(SCCD_ACCEPT, name="SCCD-Accept", content="XML", cdata=True)]),
             ("pp_set", pay_protocol_attrs("SETv1.0", "Secure Electronic Transaction Version 1.0",
                                           url="http://pay.example.net/iotp/set/payreq",
                                           secure="https://pay.example.net/iotp/set/payreq",
                                           csid="Example Corp. SET module 1.0 build 3"),
              [pc64(SCCD_PA)])])
    merchant = company(m1, "books.example.com", "Example Books Ltd.", "Example Books",
                       [("Merchant", "M"), ("CustCare", "M")], "1 Market Street", "San Francisco", "CA", "94105", "US",
                       "+1 415 555 0100", full=True)
    cons = consumer(m1)
    ph = company(m1, "pay.example.net", "Example Payments plc", "Example Pay", [("PaymentHandler", "P")],
                 "20 Finsbury Circus", "London", "Greater London", "EC2M 7AB", "GB", "+44 20 7946 0000")
    dh = company(m1, "ship.example.org", "Example Parcel Service Inc.", "Example Parcels", [("DeliveryHandler", "D")],
                 "400 Harbor Road", "Oakland", "CA", "94607", "US", "+1 510 555 0199")
    for p in bl.pp.values():
        p.attrs["ActionOrgRef"] = ph.id
    m1.blocks.append(E("TpoBlk", {"ID": tpo_id}, [po, bl, merchant, cons, ph, dh]))
    m1.sender = merchant.tr["Merchant"]
    m1.lang_pref = "en-US en"
    m1.finalize()

    c1 = Msg(T, "C1", "tpo-selection", 2, resp="M1", sender=cons.tr["Consumer"], charset_pref="UTF-8")
    blk = c1.nid()
    bs = brand_selection(c1, bl, "visa", "pa_sccd", "ca_usd")
    bs.kids = [
        E("BrandSelBrandInfo", {"ID": c1.nid(), "ContentSoftwareId": "Example Corp. SCCD wallet module 1.0 build 12"},
          [pc("VISA", name="SCCD-CardType")]),
        E("BrandSelProtocolAmountInfo", {"ID": c1.nid(), "ContentSoftwareId": "Example Corp. SCCD wallet module 1.0 build 12"},
          [pc("challenge-capable", name="SCCD-Capabilities")]),
        E("BrandSelCurrencyAmountInfo", {"ID": c1.nid(), "ContentSoftwareId": "Example Corp. SCCD wallet module 1.0 build 12"},
          [pc("USD", name="SCCD-Currency")]),
    ]
    c1.blocks.append(E("TpoSelectionBlk", {"ID": blk}, [bs]))
    c1.finalize()

    m2 = Msg(T, "M2", "offer-response", 3, resp="C1", sender=merchant.tr["Merchant"])
    m2.sig_block_id = m2.nid()
    orb = m2.nid()
    st_id_placeholder = m2.nid()
    html = ("<html><body><h1>Order 2000-0412-0001</h1><ul><li>1 x The XML Handbook</li>"
            "<li>1 x Internet Commerce</li></ul><p>Total 39.95 USD, shipping included.</p></body></html>")
    od = order(m2, "2000-0412-0001", "The XML Handbook; Internet Commerce", ts(T0), day,
               kids=[pc64(html, name="Main", content="MIME:text/html"),
                     pc("Qty 1 The XML Handbook 24.95 USD; Qty 1 Internet Commerce 15.00 USD; P&P included",
                        name="Summary", content="PCDATA", transform="NONE")],
               csid="Example Corp. ExampleIOTP Merchant Server 1.0 build 417")
    st = E("Status", {"ID": st_id_placeholder, "xml:lang": "en", "StatusType": "Offer", "ElRef": od.id,
                      "ProcessState": "CompletedOk", "ProcessReference": "2000-0412-0001"})
    pay = payment(m2, bl, ts(T0), day, "True")
    dv = E("Delivery", {"ID": m2.nid(), "xml:lang": "en", "DelivExch": "True", "DelivAndPayResp": "False",
                        "ActionOrgRef": dh.id},
           [E("DeliveryData", {"xml:lang": "en", "OkFrom": ts(T0), "OkTo": week, "DelivMethod": "Post",
                               "DelivToRef": cons.id, "DelivReqNetLocn": "http://ship.example.org/iotp/delivreq",
                               "SecDelivReqNetLocn": "https://ship.example.org/iotp/delivreq",
                               "ContentSoftwareId": "Example Corp. ExampleIOTP Merchant Server 1.0 build 417"},
              [pc("2 items, 1.2 kg, ship in one parcel", name="PackingSlip")]),
            pc("Warehouse pick list WH-7-0412-0001", name="PickList")])
    trd_ph = trd(m2, merchant.id, ph.id, [pc("LOYALTY-DOUBLE-POINTS", name="Loyalty")])
    trd_dh = trd(m2, merchant.id, dh.id, [pc("Gift wrap: no; signature on delivery: yes", name="Handling")])
    m2.blocks.append(E("OfferRespBlk", {"ID": orb}, [st, od, pay, dv, trd_ph, trd_dh]))
    osig = SigSpec(m2, "OfferResponse", merchant.id,
                   [T.transid.id, m2.trb_id, po.id, merchant.id, cons.id, ph.id, dh.id, bl.id, bs.id, od.id, pay.id,
                    dv.id, trd_ph.id, trd_dh.id],
                   "rsa", [([ph.id, dh.id], None)], cert=MERCHANT_CERT)
    m2.sig_items = [osig.sig, osig.cert]
    m2.finalize()

    c2 = Msg(T, "C2", "payment-request", 5, resp="M2", sender=cons.tr["Consumer"])
    c2.sigblock([osig.sig, osig.cert])
    prb = c2.nid()
    card = psd(c2, [pc(sccd_card("39.95", "USD"), name="SCCD-Card", content="XML", cdata=True)], payref=pay.id,
               cpid="JQC-2000-0412-A", csid="Example Corp. SCCD wallet module 1.0 build 12")
    c2.blocks.append(E("PayReqBlk", {"ID": prb}, [st, bl, bs, pay, card, merchant, cons, ph, dh, trd_ph]))
    c2.finalize()

    phpay = "PH-2000-0412-778101"
    p1 = Msg(T, "P1", "payment-exchange", 6, resp="C2", sender=ph.tr["PaymentHandler"])
    b = p1.nid()
    p1.blocks.append(E("PayExchBlk", {"ID": b}, [psd(p1, [pc(ecml('<Challenge Method="otp" Nonce="83125"/>'),
                                                             name="SCCD-Challenge", content="XML", cdata=True)],
                                                      payref=pay.id, phid=phpay)]))
    p1.finalize()

    c3 = Msg(T, "C3", "payment-exchange", 7, resp="P1", sender=cons.tr["Consumer"])
    b = c3.nid()
    c3.blocks.append(E("PayExchBlk", {"ID": b}, [psd(c3, [pc(ecml('<ChallengeResponse Nonce="83125" Code="449102"/>'),
                                                             name="SCCD-ChallengeResp", content="XML", cdata=True)],
                                                      payref=pay.id, cpid="JQC-2000-0412-A", phid=phpay)]))
    c3.finalize()

    p2 = Msg(T, "P2", "payment-response", 8, resp="C3", sender=ph.tr["PaymentHandler"])
    p2.sig_block_id = p2.nid()
    b = p2.nid()
    pst = status(p2, "Payment", pay.id, "CompletedOk", ref=phpay)
    rcpt = E("PayReceipt", {"ID": p2.nid(), "PaymentRef": pay.id, "PayReceiptNameRefs": "SCCD-Auth",
                            "ContentSoftwareId": "Example Corp. SCCD gateway 1.0 build 88"})
    auth = psd(p2, [pc(sccd_auth("39.95", "USD", phpay), name="SCCD-Auth", content="XML", cdata=True)], payref=pay.id,
               phid=phpay)
    note = E("PaymentNote", {"ID": p2.nid(), "ContentSoftwareId": "Example Corp. SCCD gateway 1.0 build 88"},
             [pc64("Your Visa card ending 1111 has been charged 39.95 USD.\r\nStatement text: EXAMPLE BOOKS SF\r\n",
                   name="Note", content="MIME:text/plain")])
    trd_ph_dh = trd(p2, ph.id, dh.id, [pc("AUTHORISED-NOT-CAPTURED", name="CaptureState")])
    p2.blocks.append(E("PayRespBlk", {"ID": b}, [pst, rcpt, auth, note, trd_ph_dh]))
    psig = SigSpec(p2, "PaymentResponse", ph.id,
                   [T.transid.id, p2.trb_id, osig.sid, rcpt.id, note.id, auth.id, pst.id, bs.id, trd_ph_dh.id],
                   "hmac", [([dh.id], "pay.example.net/ship.example.org/2000-1")])
    p2.sig_items = [psig.sig]
    p2.finalize()

    c4 = Msg(T, "C4", "delivery-request", 10, resp="P2", sender=cons.tr["Consumer"])
    c4.sigblock([osig.sig, psig.sig, osig.cert])
    b = c4.nid()
    cdd = E("ConsumerDeliveryData", {"ID": c4.nid(), "ConsumerDeliveryId": "JQC-BOOKS-0412"})
    c4.blocks.append(E("DeliveryReqBlk", {"ID": b}, [st, pst, od, merchant, cons, dh, ph, dv, cdd, trd_dh, trd_ph_dh]))
    c4.finalize()

    d1 = Msg(T, "D1", "delivery-response", 11, resp="C4", sender=dh.tr["DeliveryHandler"])
    d1.sig_block_id = d1.nid()
    b = d1.nid()
    track = "1Z999AA10123456784"
    dst = status(d1, "Delivery", dv.id, "CompletedOk", code="ShipPending", ref=track,
                 desc="Parcel scheduled for collection on 2000-04-13")
    dnote = E("DeliveryNote", {"ID": d1.nid(), "xml:lang": "en", "DelivHandlerDelivId": track,
                               "ContentSoftwareId": "Example Corp. ExampleIOTP Delivery Handler 1.0 build 417"},
              [pc64("<html><body><p>Your parcel %s will be collected on 13 April 2000.</p>"
                    '<p><img src="truck.gif"/></p></body></html>' % track, name="Main", content="MIME:text/html"),
               pc64(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", name="truck.gif", content="MIME:image/gif")])
    d1.blocks.append(E("DeliveryRespBlk", {"ID": b}, [dst, dnote]))
    dsig = SigSpec(d1, "DeliveryResponse", dh.id, [T.transid.id, d1.trb_id, cdd.id, osig.sid, psig.sid, dst.id, dnote.id],
                   "hmac", [([merchant.id], "ship.example.org/books.example.com/2000-1")])
    d1.sig_items = [dsig.sig]
    d1.finalize()
    return T, {"pay": pay, "phpay": phpay, "cons": cons, "ph": ph, "dv": dv, "track": track}


# --------------------------------------------------------------------------------------
# Helpers for brand independent offers (TPO & Offer Response in one message)
# --------------------------------------------------------------------------------------


def simple_offer(T, merchant_domain, merchant_legal, merchant_short, order_id, desc, amount, cur="USD",
                 direction="Debit", ph_domain="pay.example.net", ph_legal="Example Payments plc",
                 ph_short="Example Pay", signed="False", delivery=None, brandid="VISA", brandname="Visa",
                 protocol=("SCCD1.0", "Secure Channel Credit/Debit"), extra_tpo=(), merchant_roles=None,
                 ph_is_merchant=False, consumer_kwargs=None, related=None, pp_kids=None):
    if ph_is_merchant:
        ph_domain = merchant_domain
    m1 = Msg(T, "M1", "tpo-offer-response", 0)
    if related is not None:
        m1.related.append(related(m1))
    tpo = m1.nid()
    po = protocol_options(m1, desc, merchant_domain, secure_only=True)
    bl = brand_list(
        m1, "Payment for %s order %s" % (merchant_short, order_id), direction,
        brands=[{"key": "b", "attrs": {"BrandId": brandid, "BrandName": brandname,
                                       "BrandLogoNetLocn": "https://logos.example.net/brands/%s" % brandid.lower()},
                 "pas": ["pa"]}],
        pas=[("pa", "pp", ["ca"], {}, [])],
        cas=[("ca", amount, cur, None)],
        pps=[("pp", pay_protocol_attrs(protocol[0], protocol[1],
                                       secure="https://%s/iotp/%s/payreq" % (ph_domain, protocol[0].lower())),
              pp_kids or [])])
    roles = merchant_roles or [("Merchant", "M")]
    merchant = company(m1, merchant_domain, merchant_legal, merchant_short, roles,
                       *ADDR.get(merchant_domain, ("77 Commerce Way", "Austin", "TX", "78701", "US", "+1 512 555 0123")))
    cons = consumer(m1, **(consumer_kwargs or {}))
    orgs = [merchant, cons]
    if ph_is_merchant:
        ph = merchant
    else:
        ph = company(m1, ph_domain, ph_legal, ph_short, [("PaymentHandler", "P")], "20 Finsbury Circus", "London",
                     "Greater London", "EC2M 7AB", "GB", "+44 20 7946 0000")
        orgs.append(ph)
    dh = None
    if delivery and delivery.get("dh"):
        dh = company(m1, delivery["dh"], delivery["dh_legal"], delivery["dh_short"], [("DeliveryHandler", "D")],
                     "9 Airfield Road", "Reno", "NV", "89502", "US", "+1 775 555 0180")
        orgs.append(dh)
    for p in bl.pp.values():
        p.attrs["ActionOrgRef"] = ph.id
    m1.blocks.append(E("TpoBlk", {"ID": tpo}, [po, bl] + orgs + list(extra_tpo)))
    orb = m1.nid()
    st_id = m1.nid()
    od = order(m1, order_id, desc, ts(T.start), ts(T.start, 24 * 60))
    st = E("Status", {"ID": st_id, "xml:lang": "en", "StatusType": "Offer", "ElRef": od.id,
                      "ProcessState": "CompletedOk"})
    pay = payment(m1, bl, ts(T.start), ts(T.start, 24 * 60), signed)
    kids = [st, od, pay]
    dv = None
    if delivery:
        dorg = dh or merchant
        dv = E("Delivery", {"ID": m1.nid(), "xml:lang": "en", "DelivExch": "True",
                            "DelivAndPayResp": delivery.get("andpay", "False"), "ActionOrgRef": dorg.id},
               [E("DeliveryData", {"OkFrom": ts(T.start), "OkTo": ts(T.start, 3 * 24 * 60),
                                   "DelivMethod": delivery["method"], "DelivToRef": cons.id,
                                   "SecDelivReqNetLocn": "https://%s/iotp/delivreq" % (dh.attrs["OrgId"] if dh else merchant_domain)})])
        kids.append(dv)
    m1.blocks.append(E("OfferRespBlk", {"ID": orb}, kids))
    m1.sender = merchant.tr["Merchant"]
    ctx = dict(m1=m1, po=po, bl=bl, merchant=merchant, cons=cons, ph=ph, dh=dh, st=st, od=od, pay=pay, dv=dv,
               orgs=orgs, tpo=tpo)
    return ctx


def simple_payreq(T, ctx, minutes, scheme_pc, resp="M1", extra_orgs=None, sigs=None, mid="C1"):
    c = Msg(T, mid, "payment-request", minutes, resp=resp, sender=ctx["cons"].tr["Consumer"])
    if sigs:
        c.sigblock(sigs)
    b = c.nid()
    bl = ctx["bl"]
    bs = brand_selection(c, bl, "b", "pa", "ca")
    card = psd(c, [scheme_pc], payref=ctx["pay"].id, cpid="JQC-%s" % T.tid.split("@")[0][-6:])
    orgs = extra_orgs if extra_orgs is not None else ctx["orgs"]
    c.blocks.append(E("PayReqBlk", {"ID": b}, [ctx["st"], bl, bs, ctx["pay"], card] + orgs))
    ctx["bs"] = bs
    ctx["card"] = card
    return c


# --------------------------------------------------------------------------------------
# 2. Brand independent purchase with combined Payment and Delivery response
# --------------------------------------------------------------------------------------


def build_paydelivery():
    start = T0 + timedelta(hours=1)
    T = Txn("paydelivery", "20000412111500.000002@shop.example.com", "BaselinePurchase", start)
    ctx = simple_offer(T, "shop.example.com", "Example Software Shop GmbH", "Example Software", "SW-0412-0042",
                       "E-book: Practical XML, delivered by e-mail", "19.95",
                       merchant_roles=[("Merchant", "M"), ("PaymentHandler", "P"), ("DeliveryHandler", "D")],
                       ph_is_merchant=True, delivery={"method": "Email", "andpay": "True"},
                       consumer_kwargs={"delivto": True, "address": False, "person": False})
    ctx["m1"].finalize()
    c1 = simple_payreq(T, ctx, 2, pc(sccd_card("19.95", "USD"), name="SCCD-Card", content="XML", cdata=True))
    c1.finalize()
    shop = ctx["merchant"]
    p1 = Msg(T, "P1", "payment-delivery-response", 3, resp="C1", sender=shop.tr["PaymentHandler"])
    b1 = p1.nid()
    phpay = "SHOP-PAY-0412-0042"
    pst = status(p1, "Payment", ctx["pay"].id, "CompletedOk", ref=phpay)
    rcpt = E("PayReceipt", {"ID": p1.nid(), "PaymentRef": ctx["pay"].id, "PayReceiptNameRefs": "SCCD-Auth"})
    auth = psd(p1, [pc(sccd_auth("19.95", "USD", phpay), name="SCCD-Auth", content="XML", cdata=True)],
               payref=ctx["pay"].id, phid=phpay, csid="Example Corp. SCCD gateway 1.0 build 88")
    b2 = p1.nid()
    dst = status(p1, "Delivery", ctx["dv"].id, "CompletedOk", code="ShippedNoConf", ref="MAIL-0412-0042",
                 desc="E-book sent to jane.consumer@mail.example.org")
    dnote = E("DeliveryNote", {"ID": p1.nid(), "xml:lang": "en", "DelivHandlerDelivId": "MAIL-0412-0042"},
              [pc("Your e-book has been sent by e-mail. Download again at https://shop.example.com/dl/0412-0042?k=7f3a&v=2",
                  name="Instructions")])
    p1.blocks += [E("PayRespBlk", {"ID": b1}, [pst, rcpt, auth]), E("DeliveryRespBlk", {"ID": b2}, [dst, dnote])]
    p1.finalize()
    return T


# --------------------------------------------------------------------------------------
# 3. Refund (PayDirection Credit), with RelatedTo the original purchase
# --------------------------------------------------------------------------------------


def build_refund(purchase_tid):
    start = T0 + timedelta(days=20)
    T = Txn("refund", "20000502101500.000007@books.example.com", "BaselineRefund", start)

    def related(m):
        return E("RelatedTo", {"ID": m.nid(), "xml:lang": "en", "RelationshipType": "IotpTransaction",
                               "Relation": "refund for", "RelnKeyWords": "refund returned-goods"},
                 [pc(purchase_tid, name="IotpTransId")])

    ctx = simple_offer(T, "books.example.com", "Example Books Ltd.", "Example Books", "RF-2000-0502-0003",
                       "Refund for returned book: Internet Commerce", "15.00", direction="Credit", related=related,
                       consumer_kwargs={"delivto": False, "address": False})
    ctx["m1"].finalize()
    c1 = simple_payreq(T, ctx, 3, pc(sccd_card("15.00", "USD").replace('Type="debit"', 'Type="credit"'),
                                     name="SCCD-CreditTo", content="XML", cdata=True))
    c1.finalize()
    p1 = Msg(T, "P1", "payment-response", 4, resp="C1", sender=ctx["ph"].tr["PaymentHandler"])
    b = p1.nid()
    p1.blocks.append(E("PayRespBlk", {"ID": b}, [
        status(p1, "Payment", ctx["pay"].id, "CompletedOk", ref="PH-RF-2000-0502-3310"),
        E("PayReceipt", {"ID": p1.nid(), "PaymentRef": ctx["pay"].id},
          [pc("Refund of 15.00 USD credited to Visa card ending 1111 on 2000-05-02, reference PH-RF-2000-0502-3310",
              name="RefundReceipt")])]))
    p1.finalize()
    return T


# --------------------------------------------------------------------------------------
# 4. Deposit of e-cash (brand independent; Payment Response carries a Warning)
# --------------------------------------------------------------------------------------

ECASH = ("x-rsabssa-ecash-v1", "RSA blind signature e-cash version 1")


def build_deposit():
    start = T0 + timedelta(days=1)
    T = Txn("deposit", "20000413101500.000011@bank.example.com", "BaselineDeposit", start)
    ctx = simple_offer(T, "bank.example.com", "Example Savings Bank N.A.", "Example Bank", "DEP-0413-0011",
                       "Deposit of 50.00 USD e-cash into account ending 1234", "50.00",
                       brandid="x-ecash.bank.example.com", brandname="Example Bank E-Cash", protocol=ECASH,
                       merchant_roles=[("Merchant", "M"), ("PaymentHandler", "P")], ph_is_merchant=True,
                       consumer_kwargs={"orgid": "Consumer:CUST-88123/bank.example.com", "delivto": False,
                                        "address": False},
                       pp_kids=[pc(ecash_keys(), name="ECash-Keys", content="XML", cdata=True)])
    ctx["m1"].finalize()
    coins = ('<ECashCoins Binding="9c1185a5c5e9fc54612808977ee8f548b2258d31"><Coin Denom="k5" Serial="a81f33" '
             'Sig="3q2+7w=="/></ECashCoins>')
    c1 = simple_payreq(T, ctx, 2, pc(coins, name="ECash-Coins", content="XML", cdata=True))
    c1.lang_pref = "en-GB en"
    c1.charset_pref = "UTF-8 ISO-8859-1"
    c1.finalize()
    bank = ctx["merchant"]
    p1 = Msg(T, "P1", "payment-response", 3, resp="C1", sender=bank.tr["PaymentHandler"])
    eb = p1.nid()
    p1.errblk = E("ErrorBlk", {"ID": eb}, [
        E("ErrorComp", {"ID": p1.nid(), "xml:lang": "en", "ErrorCode": "AttNotSupp",
                        "ErrorDesc": "Character set preferences are not supported; replying in UTF-8",
                        "Severity": "Warning", "SwVendorErrorRef": "EXB-PH-417-W0031"},
          [E("ErrorLocation", {"ElementType": "MsgId", "IotpMsgRef": "C1", "BlkRef": c1.trb_id, "CompRef": "C1",
                               "AttName": "CharSetPrefList"}),
           pc("UTF-8 ISO-8859-1", name="AttValue")])])
    b = p1.nid()
    phpay = "DEP-PH-0413-5521"
    receipt = ('<ECashReceipt Amount="50.00" Currency="USD" Coins="1" Time="2000-04-13T10:18:00Z" '
               'PayId="%s" MintSig="bW9jayBzaWduYXR1cmU="/>' % phpay)
    p1.blocks.append(E("PayRespBlk", {"ID": b}, [
        status(p1, "Payment", ctx["pay"].id, "CompletedOk", ref=phpay),
        E("PayReceipt", {"ID": p1.nid(), "PaymentRef": ctx["pay"].id, "PayReceiptNameRefs": "ECash-Receipt"}),
        psd(p1, [pc(receipt, name="ECash-Receipt", content="XML", cdata=True)], payref=ctx["pay"].id, phid=phpay),
        E("PaymentNote", {"ID": p1.nid()}, [pc64(
            "Deposit received: 50.00 USD.\r\nNew balance of account ending 1234: 1,250.00 USD.\r\n"
            "Thank you for banking with Example Savings Bank.\r\n", name="Balance", content="MIME:text/plain",
            wrap=76)])]))
    p1.finalize()
    return T


# --------------------------------------------------------------------------------------
# 5. Withdrawal of e-cash (brand dependent: two protocol versions, PayDirection Credit)
# --------------------------------------------------------------------------------------


def build_withdrawal():
    start = T0 + timedelta(days=2)
    T = Txn("withdrawal", "20000414101500.000012@bank.example.com", "BaselineWithdrawal", start)
    m1 = Msg(T, "M1", "tpo", 0)
    tpo = m1.nid()
    po = protocol_options(m1, "Withdrawal of 100.00 USD e-cash from account ending 1234", "bank.example.com",
                          secure_only=True)
    bl = brand_list(
        m1, "E-cash withdrawal from account ending 1234", "Credit",
        brands=[{"key": "b", "attrs": {"BrandId": "x-ecash.bank.example.com", "BrandName": "Example Bank E-Cash",
                                       "BrandLogoNetLocn": "https://bank.example.com/logos/ecash"},
                 "pas": ["pa1", "pa2"]}],
        pas=[("pa1", "pp1", ["ca"], {}, []), ("pa2", "pp2", ["ca"], {}, [])],
        cas=[("ca", "100.00", "USD", None)],
        pps=[("pp1", pay_protocol_attrs("x-rsabssa-ecash-v1", "RSA blind signature e-cash version 1",
                                        secure="https://bank.example.com/iotp/ecash1/payreq"),
              [pc(ecash_keys(), name="ECash-Keys", content="XML", cdata=True)]),
             ("pp2", pay_protocol_attrs("x-rsabssa-ecash-v2", "RSA blind signature e-cash version 2",
                                        secure="https://bank.example.com/iotp/ecash2/payreq"),
              [pc(ecash_keys().replace("2000-Q2", "2000-Q2-v2"), name="ECash-Keys", content="XML", cdata=True)])])
    bank = company(m1, "bank.example.com", "Example Savings Bank N.A.", "Example Bank",
                   [("Merchant", "M"), ("PaymentHandler", "P")], "1 Bank Plaza", "Chicago", "IL", "60603", "US",
                   "+1 312 555 0111")
    cons = consumer(m1, orgid="Consumer:CUST-88123/bank.example.com", delivto=False, address=False)
    for p in bl.pp.values():
        p.attrs["ActionOrgRef"] = bank.id
    m1.blocks.append(E("TpoBlk", {"ID": tpo}, [po, bl, bank, cons]))
    m1.sender = bank.tr["Merchant"]
    m1.finalize()

    c1 = Msg(T, "C1", "tpo-selection", 1, resp="M1", sender=cons.tr["Consumer"])
    b = c1.nid()
    bs = brand_selection(c1, bl, "b", "pa2", "ca")
    c1.blocks.append(E("TpoSelectionBlk", {"ID": b}, [bs]))
    c1.finalize()

    m2 = Msg(T, "M2", "offer-response", 2, resp="C1", sender=bank.tr["Merchant"])
    b = m2.nid()
    sid = m2.nid()
    od = order(m2, "WDR-0414-0012", "Withdrawal of 100.00 USD e-cash (protocol version 2)", ts(start),
               ts(start, 60), law="State of Illinois, USA")
    st = E("Status", {"ID": sid, "xml:lang": "en", "StatusType": "Offer", "ElRef": od.id, "ProcessState": "CompletedOk",
                      "ProcessReference": "WDR-0414-0012"})
    pay = payment(m2, bl, ts(start), ts(start, 60), "False")
    m2.blocks.append(E("OfferRespBlk", {"ID": b}, [st, od, pay]))
    m2.finalize()

    c2 = Msg(T, "C2", "payment-request", 3, resp="M2", sender=cons.tr["Consumer"])
    b = c2.nid()
    blinded = '<ECashBlinded Denom="k5" Count="20" Messages="c2Vjb25kIGJsaW5kZWQgbWVzc2FnZXM="/>'
    c2.blocks.append(E("PayReqBlk", {"ID": b}, [st, bl, bs, pay,
                                                 psd(c2, [pc(blinded, name="ECash-Blinded", content="XML", cdata=True)],
                                                     payref=pay.id), bank, cons]))
    c2.finalize()

    p1 = Msg(T, "P1", "payment-response", 4, resp="C2", sender=bank.tr["PaymentHandler"])
    b = p1.nid()
    phpay = "WDR-PH-0414-9001"
    p1.blocks.append(E("PayRespBlk", {"ID": b}, [
        status(p1, "Payment", pay.id, "CompletedOk", ref=phpay),
        E("PayReceipt", {"ID": p1.nid(), "PaymentRef": pay.id, "PayReceiptNameRefs": "ECash-Receipt"}),
        psd(p1, [pc('<ECashBlindSigs Denom="k5" Count="20" Sigs="YmxpbmQgc2lnbmF0dXJlcw=="/>', name="ECash-BlindSigs",
                    content="XML", cdata=True),
                 pc('<ECashReceipt Amount="100.00" Currency="USD" PayId="%s"/>' % phpay, name="ECash-Receipt",
                    content="XML", cdata=True)], payref=pay.id, phid=phpay),
        E("PaymentNote", {"ID": p1.nid()}, [pc64("Withdrawn: 100.00 USD. New balance: 1,150.00 USD.\r\n",
                                                 name="Balance", content="MIME:text/plain")])]))
    p1.finalize()
    return T


# --------------------------------------------------------------------------------------
# 6. Value exchange: card payment (PH1) then e-cash download (PH2, StartAfterRefs)
# --------------------------------------------------------------------------------------


def build_valueexchange():
    start = T0 + timedelta(days=3)
    T = Txn("valueexchange", "20000415101500.000021@exchange.example.com", "BaselineValueExchange", start)
    m1 = Msg(T, "M1", "tpo-offer-response", 0)
    m1.sig_block_id = m1.nid()
    tpo = m1.nid()
    po = protocol_options(m1, "Buy 98.50 USD of e-cash with a card payment of 100.00 USD", "exchange.example.com")
    bl1 = brand_list(
        m1, "Card payment for the e-cash", "Debit",
        brands=[{"key": "b", "attrs": {"BrandId": "VISA", "BrandName": "Visa",
                                       "BrandLogoNetLocn": "https://logos.example.net/brands/visa"}, "pas": ["pa"]}],
        pas=[("pa", "pp", ["ca"], {}, [])], cas=[("ca", "100.00", "USD", None)],
        pps=[("pp", pay_protocol_attrs("SCCD1.0", "Secure Channel Credit/Debit",
                                       secure="https://pay.example.net/iotp/sccd/payreq"), [])])
    bl2 = brand_list(
        m1, "E-cash you receive", "Credit",
        brands=[{"key": "b", "attrs": {"BrandId": "x-ecash.mint.example.net", "BrandName": "Example Mint E-Cash",
                                       "BrandLogoNetLocn": "https://mint.example.net/logos/ecash"}, "pas": ["pa"]}],
        pas=[("pa", "pp", ["ca"], {}, [])], cas=[("ca", "98.50", "USD", None)],
        pps=[("pp", pay_protocol_attrs(ECASH[0], ECASH[1], url="http://mint.example.net/iotp/ecash/payreq",
                                       secure="https://mint.example.net/iotp/ecash/payreq"), [])])
    merchant = company(m1, "exchange.example.com", "Example Exchange Services LLC", "Example Exchange",
                       [("Merchant", "M")], "5 Wall Street", "New York", "NY", "10005", "US", "+1 212 555 0150")
    cons = consumer(m1, orgid="Consumer:X-5521/exchange.example.com", delivto=False, address=False)
    ph1 = company(m1, "pay.example.net", "Example Payments plc", "Example Pay", [("PaymentHandler", "P")],
                  "20 Finsbury Circus", "London", "Greater London", "EC2M 7AB", "GB", "+44 20 7946 0000")
    ph2 = company(m1, "mint.example.net", "Example Mint Ltd.", "Example Mint", [("PaymentHandler", "R")],
                  "3 Coin Street", "Edinburgh", "Scotland", "EH1 1YZ", "GB", "+44 131 496 0000")
    bl1.pp["pp"].attrs["ActionOrgRef"] = ph1.id
    bl2.pp["pp"].attrs["ActionOrgRef"] = ph2.id
    m1.blocks.append(E("TpoBlk", {"ID": tpo}, [po, bl1, bl2, merchant, cons, ph1, ph2]))
    orb = m1.nid()
    sid = m1.nid()
    od = order(m1, "VX-0415-0021", "Purchase of 98.50 USD Example Mint e-cash", ts(start), ts(start, 120),
               law="State of New York, USA",
               kids=[pc("Exchange rate 1.0000; service fee 1.50 USD included.", name="Terms")])
    st = E("Status", {"ID": sid, "xml:lang": "en", "StatusType": "Offer", "ElRef": od.id, "ProcessState": "CompletedOk"})
    pay1 = payment(m1, bl1, ts(start), ts(start, 120), "True")
    pay2 = payment(m1, bl2, ts(start), ts(start, 180), "True", after=pay1.id)
    m1.blocks.append(E("OfferRespBlk", {"ID": orb}, [st, od, pay1, pay2]))
    osig = SigSpec(m1, "OfferResponse", merchant.id,
                   [T.transid.id, m1.trb_id, po.id, merchant.id, cons.id, ph1.id, ph2.id, bl1.id, bl2.id, od.id,
                    pay1.id, pay2.id],
                   "hmac", [([ph1.id], "exchange.example.com/pay.example.net/2000-3"),
                            ([ph2.id], "exchange.example.com/mint.example.net/2000-3")],
                   extra_attributes=[("x-SigningTime", ts(start))])
    m1.sig_items = [osig.sig]
    m1.sender = merchant.tr["Merchant"]
    m1.finalize()

    c1 = Msg(T, "C1", "payment-request", 2, resp="M1", sender=cons.tr["Consumer"])
    c1.sigblock([osig.sig])
    b = c1.nid()
    bs1 = brand_selection(c1, bl1, "b", "pa", "ca")
    c1.blocks.append(E("PayReqBlk", {"ID": b}, [st, bl1, bs1, pay1,
                                                 psd(c1, [pc(sccd_card("100.00", "USD"), name="SCCD-Card", content="XML",
                                                             cdata=True)], payref=pay1.id),
                                                 merchant, cons, ph1, ph2]))
    c1.finalize()

    p1 = Msg(T, "P1", "payment-response", 3, resp="C1", sender=ph1.tr["PaymentHandler"])
    p1.sig_block_id = p1.nid()
    b = p1.nid()
    phpay1 = "PH-VX-0415-1201"
    pst1 = status(p1, "Payment", pay1.id, "CompletedOk", ref=phpay1)
    r1 = E("PayReceipt", {"ID": p1.nid(), "PaymentRef": pay1.id, "PayReceiptNameRefs": "SCCD-Auth"})
    a1 = psd(p1, [pc(sccd_auth("100.00", "USD", phpay1), name="SCCD-Auth", content="XML", cdata=True)],
             payref=pay1.id, phid=phpay1)
    p1.blocks.append(E("PayRespBlk", {"ID": b}, [pst1, r1, a1]))
    psig1 = SigSpec(p1, "PaymentResponse", ph1.id, [T.transid.id, p1.trb_id, osig.sid, r1.id, a1.id, pst1.id, bs1.id],
                    "hmac", [([ph2.id], "pay.example.net/mint.example.net/2000-3")], locator_style="none")
    p1.sig_items = [psig1.sig]
    p1.finalize()

    c2 = Msg(T, "C2", "payment-request", 4, resp="P1", sender=cons.tr["Consumer"])
    c2.sigblock([osig.sig, psig1.sig])
    b = c2.nid()
    bs2 = brand_selection(c2, bl2, "b", "pa", "ca")
    c2.blocks.append(E("PayReqBlk", {"ID": b}, [
        st, pst1, bl2, bs2, pay2,
        psd(c2, [pc('<ECashBlinded Denom="k5" Count="19" Messages="YmxpbmRlZCBjb2lucw=="/>', name="ECash-Blinded",
                    content="XML", cdata=True)], payref=pay2.id, cpid="X-5521-VX-2"),
        merchant, cons, ph2, ph1]))
    c2.finalize()

    r1m = Msg(T, "R1", "payment-response", 5, resp="C2", sender=ph2.tr["PaymentHandler"])
    r1m.sig_block_id = r1m.nid()
    b = r1m.nid()
    phpay2 = "MINT-0415-77"
    pst2 = status(r1m, "Payment", pay2.id, "CompletedOk", ref=phpay2)
    rc2 = E("PayReceipt", {"ID": r1m.nid(), "PaymentRef": pay2.id, "PayReceiptNameRefs": "ECash-Receipt"})
    a2 = psd(r1m, [pc('<ECashBlindSigs Denom="k5" Count="19" Sigs="c2lnbmF0dXJlcw=="/>', name="ECash-BlindSigs",
                      content="XML", cdata=True),
                   pc('<ECashReceipt Amount="98.50" Currency="USD" PayId="%s"/>' % phpay2, name="ECash-Receipt",
                      content="XML", cdata=True)], payref=pay2.id, cpid="X-5521-VX-2", phid=phpay2)
    r1m.blocks.append(E("PayRespBlk", {"ID": b}, [pst2, rc2, a2]))
    psig2 = SigSpec(r1m, "PaymentResponse", ph2.id,
                    [T.transid.id, r1m.trb_id, osig.sid, psig1.sid, rc2.id, a2.id, pst2.id, bs2.id],
                    "hmac", [([merchant.id], "mint.example.net/exchange.example.com/2000-3")], locator_style="2802")
    r1m.sig_items = [psig2.sig]
    r1m.finalize()
    return T


# --------------------------------------------------------------------------------------
# 7. Baseline Authentication (signed Authentication Request, certificate by Locator)
# --------------------------------------------------------------------------------------


def build_authentication():
    start = T0 - timedelta(minutes=30)
    T = Txn("authentication", "20000412094500.000003@books.example.com", "BaselineAuthentication", start)
    m1 = Msg(T, "M1", "tpo-auth-request", 0)
    m1.sig_block_id = m1.nid()
    tpo = m1.nid()
    po = protocol_options(m1, "Sign in to your Example Books account", "books.example.com", secure_only=True)
    merchant = company(m1, "books.example.com", "Example Books Ltd.", "Example Books", [("Merchant", "M")],
                       "1 Market Street", "San Francisco", "CA", "94105", "US", "+1 415 555 0100")
    m1.blocks.append(E("TpoBlk", {"ID": tpo}, [po, merchant]))
    arb = m1.nid()
    ar_id = m1.nid()
    alg_id = m1.nid()
    authid = "AUTH-2000-0412-0099"
    challenge = bytes(range(7, 27))
    ar = E("AuthReq", {"ID": ar_id, "AuthenticationId": authid, "ContentSoftwareId": "Example Corp. Member Login 3.2 build 5"},
           [E("Algorithm", {"ID": alg_id, "type": "digest", "name": "sha1"},
              [E("Parameter", {"type": "ChallengeEncoding"}, text="base64")]),
            pc64(challenge, name="Challenge")])
    tri = E("TradingRoleInfoReq", {"ID": m1.nid(), "TradingRoleList": "Consumer DelivTo"})
    m1.blocks.append(E("AuthReqBlk", {"ID": arb}, [ar, tri]))
    sig = SigSpec(m1, "AuthenticationRequest", merchant.id, [m1.trb_id, T.transid.id, po.id, merchant.id, ar.id, tri.id],
                  "rsa", [], cert=MERCHANT_CERT, cert_by_locator="https://books.example.com/iotp/certs/signing-2000.der")
    m1.sig_items = [sig.sig, sig.cert]
    m1.sender = merchant.tr["Merchant"]
    m1.finalize()

    c1 = Msg(T, "C1", "auth-response", 1, resp="M1")
    b = c1.nid()
    response = hashlib.sha1(challenge + b"member-password").digest()
    aresp = E("AuthResp", {"ID": c1.nid(), "AuthenticationId": authid, "SelectedAlgorithmRef": alg_id,
                           "ContentSoftwareId": "Example Corp. ExampleIOTP Wallet 1.0 build 417"},
              [pc64(response, name="Response")])
    cons = consumer(c1, delivto=False)
    office = org(c1, "office.example.org", [("DelivTo", "C")], legal="Example Office Supplies Inc.",
                 short="Jane's office", contact={"Tel": "+1 217 555 0190"},
                 address={"AddressLine1": "300 Business Park Drive", "CityOrTown": "Springfield", "StateOrRegion": "IL",
                          "PostalCode": "62711", "Country": "US", "LegalLocation": "True"})
    c1.sender = cons.tr["Consumer"]
    c1.blocks.append(E("AuthRespBlk", {"ID": b}, [aresp, cons, office]))
    c1.finalize()

    m2 = Msg(T, "M2", "auth-status", 2, resp="C1", sender=merchant.tr["Merchant"])
    b = m2.nid()
    m2.blocks.append(E("AuthStatusBlk", {"ID": b}, [status(m2, "Authentication", ar.id, "CompletedOk", ref=authid,
                                                          desc="Welcome back, Jane")]))
    m2.finalize()
    return T


# --------------------------------------------------------------------------------------
# 8. Baseline Transaction Status Inquiry about the purchase's payment
# --------------------------------------------------------------------------------------


def build_inquiry(purchase, pinfo):
    T = Txn("inquiry", purchase.tid, "BaselineInquiry", T0 + timedelta(minutes=45),
            transtimestamp=purchase.transtimestamp)
    T.related_txn = purchase
    i1 = Msg(T, "I1", "request", 0)
    b = i1.nid()
    i1.blocks.append(E("InquiryReqBlk", {"ID": b}, [
        E("InquiryType", {"ID": i1.nid(), "Type": "Payment", "ElRef": pinfo["pay"].id, "ProcessReference": pinfo["phpay"]}),
        psd(i1, [pc(ecml('<Inquiry Reference="%s"/>' % pinfo["phpay"]), name="SCCD-InquiryReq", content="XML",
                    cdata=True)], cpid="JQC-2000-0412-A", phid=pinfo["phpay"])]))
    i1.finalize()
    q1 = Msg(T, "Q1", "response", 1, resp="I1")
    b = q1.nid()
    q1.blocks.append(E("InquiryRespBlk", {"ID": b, "LastReceivedIotpMsgRef": "C3", "LastSentIotpMsgRef": "P2"}, [
        status(q1, "Payment", pinfo["pay"].id, "CompletedOk", ref=pinfo["phpay"],
               desc="Payment authorised; capture pending"),
        psd(q1, [pc(ecml('<InquiryResult Reference="%s" State="authorised"/>' % pinfo["phpay"]),
                    name="SCCD-InquiryResp", content="XML", cdata=True)], payref=pinfo["pay"].id,
            phid=pinfo["phpay"])]))
    q1.finalize()
    return T


def build_inquiry_delivery(purchase, pinfo):
    T = Txn("inquirydelivery", purchase.tid, "BaselineInquiry", T0 + timedelta(days=1),
            transtimestamp=purchase.transtimestamp)
    T.related_txn = purchase
    i2 = Msg(T, "I2", "request", 0)
    b = i2.nid()
    i2.blocks.append(E("InquiryReqBlk", {"ID": b}, [
        E("InquiryType", {"ID": i2.nid(), "Type": "Delivery", "ElRef": pinfo["dv"].id, "ProcessReference": pinfo["track"]})]))
    i2.finalize()
    q2 = Msg(T, "Q2", "response", 1, resp="I2", software=SOFTWARE["D"])
    b = q2.nid()
    q2.blocks.append(E("InquiryRespBlk", {"ID": b, "LastReceivedIotpMsgRef": "C4", "LastSentIotpMsgRef": "D1"}, [
        status(q2, "Delivery", pinfo["dv"].id, "CompletedOk", code="Shipped", ref=pinfo["track"],
               desc="Parcel collected; in transit to Springfield, IL")]))
    q2.finalize()
    return T


# --------------------------------------------------------------------------------------
# 9./10. Baseline Ping: anonymous, and signed
# --------------------------------------------------------------------------------------


def build_pings():
    T = Txn("ping", "C20000412-0001.42@wallet.example.org", "BaselinePing", T0 + timedelta(hours=2),
            transtimestamp="NA")
    i1 = Msg(T, "I1", "request", 0, timestamp=False)
    b = i1.nid()
    i1.blocks.append(E("PingReqBlk", {"ID": b}))
    i1.finalize()
    q1 = Msg(T, "Q1", "response", 0.1, resp="I1", software=SOFTWARE["M"])
    b = q1.nid()
    merchant = company(q1, "books.example.com", "Example Books Ltd.", "Example Books", [("Merchant", "M")],
                       "1 Market Street", "San Francisco", "CA", "94105", "US", "+1 415 555 0100")
    q1.sender = merchant.tr["Merchant"]
    q1.blocks.append(E("PingRespBlk", {"ID": b, "PingStatusCode": "Ok", "xml:lang": "en",
                                       "PingStatusDesc": "All IOTP services operating normally"}, [merchant]))
    q1.finalize()

    T2 = Txn("pingsigned", "20000412081500.000005@books.example.com", "BaselinePing", T0 - timedelta(hours=2))
    i1 = Msg(T2, "I1", "request", 0, software=SOFTWARE["M"])
    i1.sig_block_id = i1.nid()
    b = i1.nid()
    merchant = company(i1, "books.example.com", "Example Books Ltd.", "Example Books", [("Merchant", "M")],
                       "1 Market Street", "San Francisco", "CA", "94105", "US", "+1 415 555 0100")
    ph = company(i1, "pay.example.net", "Example Payments plc", "Example Pay", [("PaymentHandler", "P")],
                 "20 Finsbury Circus", "London", "Greater London", "EC2M 7AB", "GB", "+44 20 7946 0000")
    i1.blocks.append(E("PingReqBlk", {"ID": b}, [merchant, ph]))
    s1 = SigSpec(i1, "PingRequest", merchant.id, [i1.trb_id, T2.transid.id, merchant.id, ph.id], "hmac",
                 [([ph.id], "books.example.com/pay.example.net/2000-1")])
    i1.sig_items = [s1.sig]
    i1.sender = merchant.tr["Merchant"]
    i1.finalize()
    q1 = Msg(T2, "Q1", "response", 0.1, resp="I1", sender=ph.tr["PaymentHandler"])
    q1.sig_block_id = q1.nid()
    b = q1.nid()
    q1.blocks.append(E("PingRespBlk", {"ID": b, "PingStatusCode": "Ok", "SigVerifyStatusCode": "Ok"}, [merchant, ph]))
    s2 = SigSpec(q1, "PingResponse", ph.id, [q1.trb_id, T2.transid.id, merchant.id, ph.id], "hmac",
                 [([merchant.id], "pay.example.net/books.example.com/2000-1")])
    q1.sig_items = [s2.sig]
    q1.finalize()


# --------------------------------------------------------------------------------------
# 11. Consumer cancels a brand independent offer (delivery by an x- user-code method)
# --------------------------------------------------------------------------------------


def build_cancel():
    start = T0 + timedelta(days=4)
    T = Txn("cancel", "20000416101500.000031@flowers.example.com", "BaselinePurchase", start)
    ctx = simple_offer(T, "flowers.example.com", "Example Flowers Co.", "Example Flowers", "FL-0416-0031",
                       "A dozen red roses, delivered by drone", "49.00",
                       delivery={"method": "x-drone.example.com", "dh": "drones.example.com",
                                 "dh_legal": "Example Drone Delivery Corp.", "dh_short": "Example Drones"})
    ctx["m1"].finalize()
    c1 = Msg(T, "C1", "cancel", 4, resp="M1", sender=ctx["cons"].tr["Consumer"])
    b = c1.nid()
    c1.blocks.append(E("CancelBlk", {"ID": b}, [status(c1, "Offer", ctx["od"].id, "Failed", code="ConsCancelled",
                                                      desc="Consumer found a nearer florist")]))
    c1.finalize()
    return T


# --------------------------------------------------------------------------------------
# 12.-14. Payment declined (PH CancelBlk), transient error, hard error
# --------------------------------------------------------------------------------------


def build_decline():
    start = T0 + timedelta(days=5)
    T = Txn("decline", "20000417101500.000041@news.example.com", "BaselinePurchase", start)
    ctx = simple_offer(T, "news.example.com", "Example News Media Inc.", "Example News", "SUB-0417-0041",
                       "One-year subscription to Example News Online", "59.00")
    ctx["m1"].finalize()
    c1 = simple_payreq(T, ctx, 2, pc(sccd_card("59.00", "USD"), name="SCCD-Card", content="XML", cdata=True))
    c1.finalize()
    p1 = Msg(T, "P1", "cancel", 3, resp="C1", sender=ctx["ph"].tr["PaymentHandler"])
    b = p1.nid()
    p1.blocks.append(E("CancelBlk", {"ID": b}, [status(p1, "Payment", ctx["pay"].id, "Failed", code="InsuffFunds",
                                                      ref="PH-0417-0041-D", desc="Card issuer declined: insufficient funds")]))
    p1.finalize()
    return T


def build_transient():
    start = T0 + timedelta(days=6)
    T = Txn("transient", "20000418101500.000051@music.example.com", "BaselinePurchase", start)
    ctx = simple_offer(T, "music.example.com", "Example Music Store Ltd.", "Example Music", "MU-0418-0051",
                       "Album download: Example Quartet Live", "9.99")
    ctx["m1"].finalize()
    c1 = simple_payreq(T, ctx, 2, pc(sccd_card("9.99", "USD"), name="SCCD-Card", content="XML", cdata=True))
    c1.finalize()
    p1 = Msg(T, "P1", "transient-error", 3, resp="C1", sender=ctx["ph"].tr["PaymentHandler"])
    p1.errblk = E("ErrorBlk", {"ID": p1.nid()}, [
        E("ErrorComp", {"ID": p1.nid(), "xml:lang": "en", "ErrorCode": "SystemBusy",
                        "ErrorDesc": "Payment server busy. Please resend your payment request in 30 seconds.",
                        "Severity": "TransientError", "MinRetrySecs": "30", "SwVendorErrorRef": "EXP-PH-417-T0007"},
          [E("ErrorLocation", {"ElementType": "IotpMessage", "IotpMsgRef": "C1"})])])
    p1.finalize()
    return T


def build_harderror():
    start = T0 + timedelta(days=7)
    T = Txn("harderror", "20000419101500.000061@games.example.com", "BaselinePurchase", start)
    ctx = simple_offer(T, "games.example.com", "Example Games Studio Inc.", "Example Games", "GM-0419-0061",
                       "Game licence: Example Quest", "24.95")
    ctx["m1"].finalize()
    c1 = simple_payreq(T, ctx, 2, pc(sccd_card("19.95", "USD"), name="SCCD-Card", content="XML", cdata=True))
    c1.finalize()
    bl, card = ctx["bl"], ctx["card"]
    p1 = Msg(T, "P1", "hard-error", 3, resp="C1", sender=ctx["ph"].tr["PaymentHandler"])
    reqblk = c1.blocks[0].id
    p1.errblk = E("ErrorBlk", {"ID": p1.nid()}, [
        E("ErrorComp", {"ID": p1.nid(), "xml:lang": "en", "ErrorCode": "EncapProtErr",
                        "ErrorDesc": "SCCD card data: transaction amount 19.95 does not match the selected amount 24.95",
                        "Severity": "HardError", "SwVendorErrorRef": "EXP-PH-417-H0112"},
          [E("ErrorLocation", {"ElementType": "PaySchemeData", "IotpMsgRef": "C1", "BlkRef": reqblk,
                               "CompRef": card.id}),
           E("ErrorLocation", {"ElementType": "CurrencyAmount", "IotpMsgRef": "C1", "BlkRef": reqblk,
                               "CompRef": bl.id, "ElementRef": bl.ids["ca"], "AttName": "Amount"}),
           pc("24.95", name="AttValue")]),
        psd(p1, [pc(ecml('<Error Code="AMOUNT_MISMATCH" Field="Transaction/@Amount"/>'), name="SCCD-Error",
                    content="XML", cdata=True)], payref=ctx["pay"].id, phid="PH-0419-0061-E")])
    p1.finalize()
    return T


# --------------------------------------------------------------------------------------
# 15. Non-critical extension element (not DTD-valid by design)
# --------------------------------------------------------------------------------------


def build_extension():
    start = T0 + timedelta(days=8)
    T = Txn("extension", "20000420101500.000071@books.example.com", "BaselinePurchase", start)
    ctx = simple_offer(T, "books.example.com", "Example Books Ltd.", "Example Books", "2000-0420-0071",
                       "Gift voucher, 25.00 USD", "25.00")
    m1 = ctx["m1"]
    promo = E("x:Promo", {"xmlns:x": "urn:example:promo", "xmlns:IOTP": NS, "ID": m1.nid(), "IOTP:Critical": "False"},
              [E("x:Code", {}, text="SPRING2000"), E("x:Discount", {"Percent": "10"})])
    m1.blocks[0].kids.append(promo)
    m1.finalize("extension-noncritical.xml")
    return T


# --------------------------------------------------------------------------------------
# Sanity checks on the valid corpus (rules a DTD cannot say; see the brief)
# --------------------------------------------------------------------------------------

IDREF_ATTRS = {("Brand", "ProtocolAmountRefs"), ("ProtocolAmount", "PayProtocolRef"),
               ("ProtocolAmount", "CurrencyAmountRefs"), ("Digest", "DigestAlgorithmRef"),
               ("RecipientInfo", "SignatureAlgorithmRef"), ("RecipientInfo", "SignatureValueRef"),
               ("RecipientInfo", "SignatureCertRef")}
ELREF_ATTRS = {"ElRef", "BrandListRef", "BrandRef", "ProtocolAmountRef", "CurrencyAmountRef", "ActionOrgRef",
               "DelivToRef", "PaymentRef", "StartAfterRefs", "OriginatorElRef", "DestinationElRefs",
               "SelectedAlgorithmRef", "SenderTradingRoleRef", "OriginatorRef", "RecipientRefs", "RespIotpMsg",
               "IotpMsgRef", "BlkRef", "CompRef", "ElementRef", "LastReceivedIotpMsgRef", "LastSentIotpMsgRef"}


def sanity():
    problems = []
    for T in ALL_TXNS:
        for fname in T.files:
            doc = parse(FILES[fname])
            ids = id_map(doc)
            for el in doc.getElementsByTagName("*"):
                for a in el.attributes.values():
                    key = (el.tagName, a.name)
                    if key in IDREF_ATTRS:
                        for v in a.value.split():
                            if v not in ids:
                                problems.append("%s: %s/@%s=%s dangling IDREF" % (fname, el.tagName, a.name, v))
                    elif a.name in ELREF_ATTRS:
                        for v in a.value.split():
                            if T.lookup(v) is None:
                                problems.append("%s: %s/@%s=%s unresolved" % (fname, el.tagName, a.name, v))
                if el.tagName == "Status":
                    if el.getAttribute("StatusType") != "Undefined" and not el.getAttribute("ElRef"):
                        problems.append("%s: Status without ElRef" % fname)
                    if el.getAttribute("ProcessState") == "Failed" and not el.getAttribute("CompletionCode"):
                        problems.append("%s: Failed without CompletionCode" % fname)
                if el.tagName == "PackagedContent" and el.getAttribute("Transform") == "BASE64":
                    data = "".join(c.data for c in el.childNodes)
                    base64.b64decode("".join(data.split()), validate=True)
    if problems:
        raise SystemExit("\n".join(problems))


# --------------------------------------------------------------------------------------
# Invalid corpus
# --------------------------------------------------------------------------------------

INVALID_ROWS = []


def once(text, old, new):
    n = text.count(old)
    if n != 1:
        raise SystemExit("pattern occurs %d times: %r" % (n, old))
    return text.replace(old, new)


def attr_of(text, tag, attr, nth=0):
    return re.findall(r"<%s\b[^>]*?\s%s=\"([^\"]*)\"" % (tag, re.escape(attr)), text)[nth]


def element(text, tag, nth=0):
    """The full serialisation of the nth <tag ...> element (including its indentation line)."""
    starts = [m.start() for m in re.finditer(r"(?m)^ *<%s[ >/]" % tag, text)]
    s = starts[nth]
    line_end = text.index("\n", s)
    first = text[s:line_end]
    if first.rstrip().endswith("/>") or first.rstrip().endswith("</%s>" % tag):
        return text[s:line_end + 1]
    indent = len(first) - len(first.lstrip())
    close = "\n" + " " * indent + "</%s>\n" % tag
    e = text.index(close, s)
    return text[s:e + len(close)]


def resign(base, text):
    """Recompute digests and signature values of the Signatures created in `base`'s message."""
    msg = MSG_BY_FILE[base]
    if not msg.new_sigs:
        return text
    for _ in range(2):
        doc = parse(text)
        ids = id_map(doc, strict=False)
        for spec in msg.new_sigs:
            for v, target in spec.digests:
                vid = v.attrs["ID"]
                if vid not in ids:
                    continue
                el = ids.get(target) or msg.txn.lookup(target)
                new = b64(domhash(el))
                text = re.sub(r'(<Value ID="%s"[^>]*>)[^<]*(</Value>)' % re.escape(vid),
                              lambda m: m.group(1) + new + m.group(2), text)
        doc = parse(text)
        ids = id_map(doc, strict=False)
        for spec in msg.new_sigs:
            for v, scheme, key in spec.values:
                vid = v.attrs["ID"]
                if vid not in ids:
                    continue
                sig_el = ids[vid].parentNode
                man = [c for c in sig_el.childNodes if c.nodeType == Node.ELEMENT_NODE and c.tagName == "Manifest"][0]
                h = domhash(man)
                new = b64(key.sign(h) if scheme == "rsa" else hmac_value(key, h))
                text = re.sub(r'(<Value ID="%s"[^>]*>)[^<]*(</Value>)' % re.escape(vid),
                              lambda m: m.group(1) + new + m.group(2), text)
    return text


def bad(name, base, code, eltype, att, desc, mutate, raw=False):
    text = FILES[base]
    out = mutate(text)
    if not raw:
        out = resign(base, out)
        data = out.encode("utf-8")
    else:
        data = out if isinstance(out, bytes) else out.encode("utf-8")
    if data == FILES[base].encode("utf-8"):
        raise SystemExit("%s: mutation changed nothing" % name)
    with open(os.path.join(INVALID, name), "wb") as f:
        f.write(data)
    INVALID_ROWS.append((name, code, eltype, att, "%s (from valid/%s)" % (desc, base)))


def build_invalid():
    PING = "ping-01-request.xml"
    PINGR = "ping-02-response.xml"
    SPING = "pingsigned-01-request.xml"
    PD1 = "paydelivery-01-tpo-offer-response.xml"
    PD2 = "paydelivery-02-payment-request.xml"
    PD3 = "paydelivery-03-payment-delivery-response.xml"
    CAN1 = "cancel-01-tpo-offer-response.xml"
    CAN2 = "cancel-02-cancel.xml"
    REF1 = "refund-01-tpo-offer-response.xml"
    REF3 = "refund-03-payment-response.xml"
    DEC3 = "decline-03-cancel.xml"
    TR3 = "transient-03-transient-error.xml"
    HE3 = "harderror-03-hard-error.xml"
    INQ1 = "inquiry-01-request.xml"
    OFFER = "purchase-03-offer-response.xml"
    TPO = "purchase-01-tpo.xml"
    WD4 = "withdrawal-04-payment-request.xml"
    WD5 = "withdrawal-05-payment-response.xml"
    VX4 = "valueexchange-04-payment-request.xml"
    DEP3 = "deposit-03-payment-response.xml"
    EXT = "extension-noncritical.xml"

    M = "IotpMessage"
    # ---- XmlNotWellFrmd
    bad("notwf-unclosed-root.xml", PING, "XmlNotWellFrmd", M, "", "end tag </IotpMessage> missing (root left unclosed)",
        lambda t: once(t, "</IotpMessage>\n", ""))
    bad("notwf-mismatched-end-tag.xml", CAN2, "XmlNotWellFrmd", M, "", "<CancelBlk> closed by </CancelBlock>",
        lambda t: once(t, "</CancelBlk>", "</CancelBlock>"))
    bad("notwf-bare-ampersand.xml", CAN2, "XmlNotWellFrmd", M, "", "bare '&' in the StatusDesc attribute value",
        lambda t: once(t, 'StatusDesc="Consumer found a nearer florist"',
                       'StatusDesc="Consumer found a nearer & cheaper florist"'))
    bad("notwf-undefined-entity.xml", REF3, "XmlNotWellFrmd", M, "", "undefined entity &foo; in PackagedContent text",
        lambda t: once(t, "credited to Visa card", "credited to &foo; card"))
    bad("notwf-two-roots.xml", PING, "XmlNotWellFrmd", M, "", "a second root element after </IotpMessage>",
        lambda t: t + '<IotpMessage xmlns="iotp:ietf.org/iotp-v1.0"/>\n')
    bad("notwf-garbage-bytes.xml", PING, "XmlNotWellFrmd", M, "", "bytes 0xFF 0xFE 0xFD (not UTF-8) inside the root",
        lambda t: once(t, '<IotpMessage xmlns="iotp:ietf.org/iotp-v1.0">\n',
                       '<IotpMessage xmlns="iotp:ietf.org/iotp-v1.0">\n').encode("utf-8").replace(
            b"<TransRefBlk", b"\xff\xfe\xfd<TransRefBlk"), raw=True)
    bad("notwf-unquoted-attribute.xml", PING, "XmlNotWellFrmd", M, "", "unquoted attribute value ID=I1.3 (as in RFC 11.2)",
        lambda t: once(t, '<PingReqBlk ID="I1.3"/>', "<PingReqBlk ID=I1.3/>"))
    bad("notwf-uppercase-xml-declaration.xml", PING, "XmlNotWellFrmd", M, "",
        "RFC 3.2.1 prolog <?XML Version='1.0'?>: reserved PI target, not an XML declaration",
        lambda t: once(t, '<?xml version="1.0" encoding="UTF-8"?>', "<?XML Version='1.0'?>"))
    # ---- XmlNotValid
    laughs = ('<!DOCTYPE IotpMessage [\n <!ENTITY lol "lol">\n' +
              "".join(' <!ENTITY lol%d "%s">\n' % (i, ("&lol%s;" % ("" if i == 1 else i - 1)) * 10) for i in range(1, 10))
              + "]>\n")
    bad("notvalid-doctype-billion-laughs.xml", PING, "XmlNotValid", M, "",
        "DOCTYPE internal subset declaring nested entities (billion laughs), used in SoftwareId",
        lambda t: once(once(t, "<IotpMessage ", laughs + "<IotpMessage "),
                       'SoftwareId="Example Corp. ExampleIOTP Wallet 1.0 build 417"', 'SoftwareId="&lol9;"'))
    bad("notvalid-doctype-external-entity.xml", REF3, "XmlNotValid", M, "",
        "DOCTYPE internal subset declaring an external entity (file:///etc/passwd), used in PackagedContent",
        lambda t: once(once(t, "<IotpMessage ", '<!DOCTYPE IotpMessage [\n <!ENTITY x SYSTEM "file:///etc/passwd">\n]>\n<IotpMessage '),
                       "credited to Visa card", "credited to &x; card"))
    bad("notvalid-root-element.xml", PING, "XmlNotValid", "IotpMsg", "", "root element is IotpMsg instead of IotpMessage",
        lambda t: once(once(t, "<IotpMessage ", "<IotpMsg "), "</IotpMessage>", "</IotpMsg>"))
    # ---- ElContIllegal
    bad("elcontillegal-text-in-tpoblk.xml", PD1, "ElContIllegal", "TpoBlk", "",
        "character data 'Free shipping!' in element-only TpoBlk",
        lambda t: once(t, "  <BrandList ", "  Free shipping!\n  <BrandList "))
    bad("elcontillegal-text-in-empty-payment.xml", PD1, "ElContIllegal", "Payment", "",
        "character data inside the EMPTY Payment element",
        lambda t: re.sub(r'(<Payment [^>]*?)/>', r"\1>pay soon</Payment>", t, count=1))
    bad("elcontillegal-base64-invalid.xml", DEP3, "ElContIllegal", "PackagedContent", "",
        "PackagedContent Transform=BASE64 whose content is not base64",
        lambda t: re.sub(r'(<PackagedContent Name="Balance" Content="MIME:text/plain" Transform="BASE64">)[^<]*(<)',
                         r"\1This is *not* base64!\2", t, count=1))
    # ---- ElUnexpected
    bad("elunexpected-unknown-element.xml", PD1, "ElUnexpected", "Coupon", "",
        "unknown element Coupon (in the IOTP namespace) inside TpoBlk",
        lambda t: once(t, "\n </TpoBlk>", '\n  <Coupon ID="M1.99" Code="SPRING"/>\n </TpoBlk>'))
    bad("elunexpected-order-after-payment.xml", PD1, "ElUnexpected", "Order", "",
        "Order placed after Payment in OfferRespBlk (content model order)",
        lambda t: once(t, element(t, "Order") + element(t, "Payment"), element(t, "Payment") + element(t, "Order")))
    bad("elunexpected-second-transid.xml", PING, "ElUnexpected", "TransId", "",
        "TransRefBlk holds two TransId components (second with a fresh ID)",
        lambda t: once(t, element(t, "TransId"), element(t, "TransId") + element(t, "TransId").replace('ID="I1.2"', 'ID="I1.4"')))
    bad("elunexpected-second-protocoloptions.xml", PD1, "ElUnexpected", "ProtocolOptions", "",
        "TpoBlk holds two ProtocolOptions (second with a fresh ID)",
        lambda t: once(t, element(t, "ProtocolOptions"),
                       element(t, "ProtocolOptions") + element(t, "ProtocolOptions").replace('ID="M1.4"', 'ID="M1.99"')))
    bad("elunexpected-signatures-after-block.xml", OFFER, "ElUnexpected", "IotpSignatures", "",
        "IotpSignatures placed after the OfferRespBlk instead of after TransRefBlk",
        lambda t: once(once(t, element(t, "IotpSignatures"), ""), "</IotpMessage>", element(t, "IotpSignatures") + "</IotpMessage>"))
    bad("elunexpected-tpoblk-in-payment-request.xml", PD2, "ElUnexpected", "TpoBlk", "",
        "a Payment Request message that also carries a TpoBlk (no message of RFC 9 combines them)",
        lambda t: once(t, "</IotpMessage>", ' <TpoBlk ID="C1.99">\n%s </TpoBlk>\n</IotpMessage>' % element(FILES[PD1], "ProtocolOptions")))
    bad("elunexpected-transient-two-locations.xml", TR3, "ElUnexpected", "ErrorLocation", "",
        "TransientError ErrorComp with two ErrorLocations (exactly one allowed, RFC 7.21.1.2)",
        lambda t: once(t, element(t, "ErrorLocation"), element(t, "ErrorLocation") +
                       '   <ErrorLocation ElementType="PayReqBlk" IotpMsgRef="C1" BlkRef="C1.2"/>\n'))
    # ---- ElMissing
    bad("elmissing-msgid.xml", PING, "ElMissing", "MsgId", "", "TransRefBlk without MsgId",
        lambda t: once(t, element(t, "MsgId"), ""))
    bad("elmissing-payprotocol.xml", PD1, "ElMissing", "PayProtocol", "",
        "BrandList without PayProtocol (so ProtocolAmount/@PayProtocolRef also dangles; the content-model error comes first)",
        lambda t: once(t, element(t, "PayProtocol"), ""))
    bad("elmissing-order.xml", PD1, "ElMissing", "Order", "",
        "OfferRespBlk with Status CompletedOk but no Order (Status/@ElRef is left naming the removed Order)",
        lambda t: once(t, element(t, "Order"), ""))
    bad("elmissing-payreceipt.xml", PD3, "ElMissing", "PayReceipt", "", "PayRespBlk with Status CompletedOk but no PayReceipt",
        lambda t: once(t, element(t, "PayReceipt"), ""))
    bad("elmissing-deliverydata.xml", PD1, "ElMissing", "DeliveryData", "", "Delivery with DelivExch=True but no DeliveryData",
        lambda t: once(re.sub(r'(<Delivery [^>]*)>\n', r"\1/>\n", t, count=1), element(t, "DeliveryData") + "  </Delivery>\n", ""))
    bad("elmissing-ping-signatures.xml", SPING, "ElMissing", "IotpSignatures", "",
        "PingReqBlk with Org components but no IotpSignatures block",
        lambda t: once(t, element(t, "IotpSignatures"), ""))
    bad("elmissing-inquiry-payschemedata.xml", INQ1, "ElMissing", "PaySchemeData", "",
        "InquiryReqBlk with InquiryType Type=Payment but no PaySchemeData",
        lambda t: once(t, element(t, "PaySchemeData"), ""))
    bad("elmissing-deliverynote.xml", PD3, "ElMissing", "DeliveryNote", "", "DeliveryRespBlk without DeliveryNote",
        lambda t: once(t, element(t, "DeliveryNote"), ""))
    # ---- ElNotSupp
    bad("elnotsupp-extension-critical-absent.xml", EXT, "ElNotSupp", "x:Promo", "",
        "extension element x:Promo without IOTP:Critical (defaults to True)",
        lambda t: once(t, ' IOTP:Critical="False"', ""))
    bad("elnotsupp-extension-critical-true.xml", EXT, "ElNotSupp", "x:Promo", "",
        "extension element x:Promo with IOTP:Critical=\"True\"",
        lambda t: once(t, 'IOTP:Critical="False"', 'IOTP:Critical="True"'))
    # ---- AttMissing
    bad("attmissing-transid-iotptransid.xml", PING, "AttMissing", "TransId", "IotpTransId", "TransId without IotpTransId",
        lambda t: once(t, ' IotpTransId="C20000412-0001.42@wallet.example.org"', ""))
    bad("attmissing-org-orgid.xml", PD1, "AttMissing", "Org", "OrgId", "merchant Org without OrgId",
        lambda t: once(t, ' OrgId="shop.example.com"', ""))
    bad("attmissing-status-completioncode.xml", CAN2, "AttMissing", "Status", "CompletionCode",
        "Status with ProcessState=Failed but no CompletionCode", lambda t: once(t, ' CompletionCode="ConsCancelled"', ""))
    bad("attmissing-status-elref.xml", DEC3, "AttMissing", "Status", "ElRef", "Status with StatusType=Payment but no ElRef",
        lambda t: once(t, ' ElRef="%s"' % attr_of(t, "Status", "ElRef"), ""))
    bad("attmissing-org-legalname.xml", PD1, "AttMissing", "Org", "LegalName",
        "Org with Merchant/PaymentHandler/DeliveryHandler roles but no LegalName",
        lambda t: once(t, ' LegalName="Example Software Shop GmbH"', ""))
    bad("attmissing-tradingrole-errornetlocn.xml", PD1, "AttMissing", "TradingRole", "ErrorNetLocn",
        "Merchant TradingRole without ErrorNetLocn",
        lambda t: once(t, ' ErrorNetLocn="https://shop.example.com/iotp/merchant/error"', ""))
    bad("attmissing-tradingrole-cancelnetlocn.xml", REF1, "AttMissing", "TradingRole", "CancelNetLocn",
        "PaymentHandler TradingRole without CancelNetLocn",
        lambda t: once(t, ' CancelNetLocn="https://pay.example.net/iotp/payment/cancelled"', ""))
    bad("attmissing-payschemedata-phpayid.xml", WD5, "AttMissing", "PaySchemeData", "PaymentHandlerPayId",
        "PaySchemeData in a PayRespBlk without PaymentHandlerPayId",
        lambda t: once(t, ' PaymentHandlerPayId="WDR-PH-0414-9001"', ""))
    bad("attmissing-payschemedata-paymentref.xml", PD2, "AttMissing", "PaySchemeData", "PaymentRef",
        "PaySchemeData in a PayReqBlk without PaymentRef",
        lambda t: re.sub(r'(<PaySchemeData ID="[^"]*") PaymentRef="[^"]*"', r"\1", t, count=1))
    bad("attmissing-payprotocol-netlocn.xml", PD1, "AttMissing", "PayProtocol", "PayReqNetLocn",
        "PayProtocol with neither PayReqNetLocn nor SecPayReqNetLocn (reported on the first of the pair)",
        lambda t: once(t, ' SecPayReqNetLocn="https://shop.example.com/iotp/sccd1.0/payreq"', ""))
    bad("attmissing-protocoloptions-netlocn.xml", PD1, "AttMissing", "ProtocolOptions", "SenderNetLocn",
        "ProtocolOptions with neither SenderNetLocn nor SecureSenderNetLocn (reported on the first of the pair)",
        lambda t: once(t, ' SecureSenderNetLocn="https://shop.example.com/iotp/tpo"', ""))
    bad("attmissing-pingresp-lang.xml", PINGR, "AttMissing", "PingRespBlk", "xml:lang",
        "PingRespBlk with PingStatusDesc but no xml:lang", lambda t: once(t, ' PingStatusCode="Ok" xml:lang="en"', ' PingStatusCode="Ok"'))
    bad("attmissing-signature-id.xml", OFFER, "AttMissing", "Signature", "ID", "Signature component without ID",
        lambda t: re.sub(r'<Signature ID="[^"]*">', "<Signature>", t, count=1))
    bad("attmissing-errorcomp-minretrysecs.xml", TR3, "AttMissing", "ErrorComp", "MinRetrySecs",
        "ErrorComp with Severity=TransientError but no MinRetrySecs", lambda t: once(t, ' MinRetrySecs="30"', ""))
    bad("attmissing-originatorinfo-originatorref.xml", SPING, "AttMissing", "OriginatorInfo", "OriginatorRef",
        "OriginatorInfo without OriginatorRef (signature recomputed over the changed Manifest)",
        lambda t: re.sub(r'<OriginatorInfo OriginatorRef="[^"]*"/>', "<OriginatorInfo/>", t, count=1))
    # ---- AttUnexpected
    bad("attunexpected-undeclared-attribute.xml", PD1, "AttUnexpected", "Payment", "Discount",
        "attribute Discount is not declared for Payment",
        lambda t: re.sub(r'(<Payment ID="[^"]*")', r'\1 Discount="10%"', t, count=1))
    bad("attunexpected-consumer-cancelnetlocn.xml", PD1, "AttUnexpected", "TradingRole", "CancelNetLocn",
        "CancelNetLocn on a Consumer TradingRole",
        lambda t: re.sub(r'(TradingRole="Consumer" IotpMsgIdPrefix="C")',
                         r'\1 CancelNetLocn="https://shop.example.com/iotp/cancelled"', t, count=1))
    bad("attunexpected-consumer-errorlognetlocn.xml", REF1, "AttUnexpected", "TradingRole", "ErrorLogNetLocn",
        "ErrorLogNetLocn on a Consumer TradingRole",
        lambda t: re.sub(r'(TradingRole="Consumer" IotpMsgIdPrefix="C")',
                         r'\1 ErrorLogNetLocn="https://books.example.com/iotp/errorlog"', t, count=1))
    bad("attunexpected-pingresp-lang-without-desc.xml", PINGR, "AttUnexpected", "PingRespBlk", "xml:lang",
        "PingRespBlk with xml:lang but no PingStatusDesc",
        lambda t: once(t, ' PingStatusDesc="All IOTP services operating normally"', ""))
    # ---- AttValIllegal
    bad("attvalillegal-id-hyphen.xml", PD1, "AttValIllegal", "ProtocolOptions", "ID", 'ID "M1-4" does not match IotpMsgId "." digits',
        lambda t: once(t, '<ProtocolOptions ID="M1.4"', '<ProtocolOptions ID="M1-4"'))
    bad("attvalillegal-id-leading-digit.xml", PD1, "AttValIllegal", "TpoBlk", "ID", 'ID "1M.3" starts with a digit',
        lambda t: once(t, '<TpoBlk ID="M1.3"', '<TpoBlk ID="1M.3"'))
    bad("attvalillegal-duplicate-id.xml", TPO, "AttValIllegal", "TradingRole", "ID",
        "two elements with the same ID in one message (DeliveryHandler TradingRole reuses the PaymentHandler's ID)",
        lambda t: once(t, 'ID="%s" TradingRole="DeliveryHandler"' % attr_of(t, "TradingRole", "ID", 5),
                       'ID="%s" TradingRole="DeliveryHandler"' % attr_of(t, "TradingRole", "ID", 4)))
    bad("attvalillegal-dangling-idref.xml", PD1, "AttValIllegal", "Brand", "ProtocolAmountRefs",
        "Brand/@ProtocolAmountRefs (IDREFS) names M1.99, which is not an ID in the message",
        lambda t: re.sub(r'ProtocolAmountRefs="[^"]*"', 'ProtocolAmountRefs="M1.99"', t, count=1))
    bad("attvalillegal-amount-text.xml", PD1, "AttValIllegal", "CurrencyAmount", "Amount", 'Amount "ten"',
        lambda t: once(t, 'Amount="19.95"', 'Amount="ten"'))
    bad("attvalillegal-amount-negative.xml", PD1, "AttValIllegal", "CurrencyAmount", "Amount", 'Amount "-5"',
        lambda t: once(t, 'Amount="19.95"', 'Amount="-5"'))
    bad("attvalillegal-currcode-lowercase.xml", PD1, "AttValIllegal", "CurrencyAmount", "CurrCode",
        'CurrCode "usd" with the default CurrCodeType ISO4217-A', lambda t: once(t, 'CurrCode="USD"', 'CurrCode="usd"'))
    bad("attvalillegal-date.xml", PD1, "AttValIllegal", "Payment", "OkFrom", 'Payment OkFrom "yesterday" is not a UTC date',
        lambda t: re.sub(r'(<Payment [^>]*OkFrom=")[^"]*"', r'\1yesterday"', t, count=1))
    bad("attvalillegal-iotptransid-no-at.xml", PING, "AttValIllegal", "TransId", "IotpTransId",
        'IotpTransId "C20000412-0001.42" is not an RFC 822 msg-id (no "@")',
        lambda t: once(t, 'IotpTransId="C20000412-0001.42@wallet.example.org"', 'IotpTransId="C20000412-0001.42"'))
    bad("attvalillegal-paydirection.xml", PD1, "AttValIllegal", "BrandList", "PayDirection", 'PayDirection "Sideways"',
        lambda t: once(t, 'PayDirection="Debit"', 'PayDirection="Sideways"'))
    bad("attvalillegal-processstate.xml", CAN2, "AttValIllegal", "Status", "ProcessState", 'ProcessState "Done"',
        lambda t: once(t, 'ProcessState="Failed"', 'ProcessState="Done"'))
    bad("attvalillegal-severity.xml", HE3, "AttValIllegal", "ErrorComp", "Severity", 'Severity "Fatal"',
        lambda t: once(t, 'Severity="HardError"', 'Severity="Fatal"'))
    bad("attvalillegal-signedpayreceipt.xml", PD1, "AttValIllegal", "Payment", "SignedPayReceipt", 'SignedPayReceipt "yes"',
        lambda t: once(t, 'SignedPayReceipt="False"', 'SignedPayReceipt="yes"'))
    bad("attvalillegal-ping-msgid-prefix.xml", PING, "AttValIllegal", "MsgId", "ID",
        'message with a PingReqBlk whose MsgId ID uses prefix "C" instead of "I" (all IDs renamed consistently)',
        lambda t: t.replace('"I1', '"C1'))
    bad("attvalillegal-minretrysecs.xml", TR3, "AttValIllegal", "ErrorComp", "MinRetrySecs", 'MinRetrySecs "soon"',
        lambda t: once(t, 'MinRetrySecs="30"', 'MinRetrySecs="soon"'))
    bad("attvalillegal-offerresp-inprogress.xml", PD1, "AttValIllegal", "Status", "ProcessState",
        "OfferRespBlk Status with ProcessState=InProgress (illegal in a response block, RFC 8.3)",
        lambda t: once(t, 'ProcessState="CompletedOk"', 'ProcessState="InProgress"'))
    bad("attvalillegal-payresp-notyetstarted.xml", PD3, "AttValIllegal", "Status", "ProcessState",
        "PayRespBlk Status with ProcessState=NotYetStarted (illegal in a response block, RFC 8.9)",
        lambda t: re.sub(r'(StatusType="Payment" ElRef="[^"]*" ProcessState=")CompletedOk"', r'\1NotYetStarted"', t, count=1))
    bad("attvalillegal-consumer-orgid.xml", PD1, "AttValIllegal", "Org", "OrgId",
        'Consumer Org with OrgId "jane.example.org" (a ConsumerOrgId must be "Consumer:" NameChar+ "/" domain, RFC 7.6.1)',
        lambda t: once(t, 'OrgId="%s"' % CONSUMER_ID, 'OrgId="jane.example.org"'))
    bad("attvalillegal-merchant-orgid.xml", PD1, "AttValIllegal", "Org", "OrgId",
        'Merchant Org with OrgId "Consumer:SHOP/shop.example.com" (a NonConsumerOrgId may not start with "Consumer:", RFC 7.6.1)',
        lambda t: once(t, 'OrgId="shop.example.com"', 'OrgId="Consumer:SHOP/shop.example.com"'))
    # ---- AttValNotRecog
    bad("attvalnotrecog-statustype.xml", CAN2, "AttValNotRecog", "Status", "StatusType", 'StatusType "Refund"',
        lambda t: once(t, 'StatusType="Offer"', 'StatusType="Refund"'))
    bad("attvalnotrecog-tradingrole.xml", TPO, "AttValNotRecog", "TradingRole", "TradingRole",
        'TradingRole "Shopper" (replacing CustCare on the Merchant Org, so no role-dependent rule changes)',
        lambda t: once(t, 'TradingRole="CustCare"', 'TradingRole="Shopper"'))
    bad("attvalnotrecog-iotptranstype.xml", PING, "AttValNotRecog", "TransId", "IotpTransType", 'IotpTransType "BaselineBarter"',
        lambda t: once(t, 'IotpTransType="BaselinePing"', 'IotpTransType="BaselineBarter"'))
    bad("attvalnotrecog-delivmethod.xml", PD1, "AttValNotRecog", "DeliveryData", "DelivMethod", 'DelivMethod "Pigeon"',
        lambda t: once(t, 'DelivMethod="Email"', 'DelivMethod="Pigeon"'))
    bad("attvalnotrecog-currcodetype.xml", PD1, "AttValNotRecog", "CurrencyAmount", "CurrCodeType", 'CurrCodeType "XYZ"',
        lambda t: once(t, 'Amount="19.95" CurrCode="USD"', 'Amount="19.95" CurrCodeType="XYZ" CurrCode="USD"'))
    bad("attvalnotrecog-completioncode.xml", CAN2, "AttValNotRecog", "Status", "CompletionCode", 'CompletionCode "Oops"',
        lambda t: once(t, 'CompletionCode="ConsCancelled"', 'CompletionCode="Oops"'))
    bad("attvalnotrecog-relationshiptype.xml", REF1, "AttValNotRecog", "RelatedTo", "RelationshipType",
        'RelationshipType "Sibling"', lambda t: once(t, 'RelationshipType="IotpTransaction"', 'RelationshipType="Sibling"'))
    # ---- ValueTooSmall
    bad("valuetoosmall-payment-okto.xml", PD1, "ValueTooSmall", "Payment", "OkTo", "Payment OkTo earlier than OkFrom",
        lambda t: re.sub(r'(<Payment [^>]*OkTo=")[^"]*"', r'\g<1>2000-04-12T11:00:00Z"', t, count=1))
    bad("valuetoosmall-deliverydata-okto.xml", CAN1, "ValueTooSmall", "DeliveryData", "OkTo",
        "DeliveryData OkTo earlier than OkFrom",
        lambda t: re.sub(r'(<DeliveryData [^>]*OkTo=")[^"]*"', r'\g<1>2000-04-15T14:00:00Z"', t, count=1))
    # ---- ElInconsistent
    bad("elinconsistent-brandref-other-brandlist.xml", VX4, "ElInconsistent", "BrandSelection", "BrandRef",
        "BrandSelection/@BrandRef names the Brand of the first payment's BrandList, not one in the referenced BrandList",
        lambda t: re.sub(r'(<BrandSelection ID="C2\.\d+" BrandListRef="[^"]*" BrandRef=")[^"]*"', r'\g<1>%s"' % attr_of(FILES["valueexchange-01-tpo-offer-response.xml"], "Brand", "ID", 0), t, count=1))
    bad("elinconsistent-protocolamountref.xml", WD4, "ElInconsistent", "BrandSelection", "ProtocolAmountRef",
        "BrandSelection/@ProtocolAmountRef names the CurrencyAmount, not a ProtocolAmount listed in the Brand's ProtocolAmountRefs",
        lambda t: re.sub(r'ProtocolAmountRef="[^"]*"', 'ProtocolAmountRef="%s"' % attr_of(t, "CurrencyAmount", "ID"), t, count=1))
    bad("elinconsistent-actionorgref-not-ph.xml", REF1, "ElInconsistent", "PayProtocol", "ActionOrgRef",
        "PayProtocol/@ActionOrgRef names the Merchant Org, which has no PaymentHandler role",
        lambda t: re.sub(r'ActionOrgRef="[^"]*"', 'ActionOrgRef="%s"' % attr_of(t, "Org", "ID", 0), t, count=1))
    bad("elinconsistent-paprotocolref-currencyamount.xml", PD1, "ElInconsistent", "ProtocolAmount", "PayProtocolRef",
        "ProtocolAmount/@PayProtocolRef (IDREF) names a CurrencyAmount instead of a PayProtocol",
        lambda t: re.sub(r'PayProtocolRef="[^"]*"', 'PayProtocolRef="%s"' % attr_of(t, "CurrencyAmount", "ID"), t, count=1))
    bad("elinconsistent-delivery-completioncode.xml", PD3, "ElInconsistent", "Status", "CompletionCode",
        "Delivery Status with CompletionCode InsuffFunds (a Payment code)",
        lambda t: once(t, 'CompletionCode="ShippedNoConf"', 'CompletionCode="InsuffFunds"'))
    bad("elinconsistent-permnotavail-completedok.xml", PD3, "ElInconsistent", "Status", "CompletionCode",
        "Delivery Status CompletedOk with CompletionCode PermNotAvail (only valid with Failed, RFC 7.16.3)",
        lambda t: once(t, 'CompletionCode="ShippedNoConf"', 'CompletionCode="PermNotAvail"'))
    bad("elinconsistent-delivtoref-not-delivto.xml", PD1, "ElInconsistent", "DeliveryData", "DelivToRef",
        "DeliveryData/@DelivToRef names the shop Org, which has no DelivTo role",
        lambda t: re.sub(r'DelivToRef="[^"]*"', 'DelivToRef="%s"' % attr_of(t, "Org", "ID", 0), t, count=1))
    bad("elinconsistent-delivery-actionorgref.xml", CAN1, "ElInconsistent", "Delivery", "ActionOrgRef",
        "Delivery/@ActionOrgRef names the PaymentHandler Org, which has no DeliveryHandler role",
        lambda t: re.sub(r'(<Delivery [^>]*ActionOrgRef=")[^"]*"', r'\g<1>%s"' % attr_of(t, "Org", "ID", 2), t, count=1))
    bad("elinconsistent-status-elref-wrong-type.xml", PD1, "ElInconsistent", "Status", "ElRef",
        "Offer Status/@ElRef names the Payment component instead of the Order",
        lambda t: re.sub(r'(StatusType="Offer" ElRef=")[^"]*"', r'\g<1>%s"' % attr_of(t, "Payment", "ID"), t, count=1))
    bad("elinconsistent-signature-type-role.xml", "valueexchange-01-tpo-offer-response.xml", "ElInconsistent", "Attribute", "",
        "signature type PaymentResponse signed by the Merchant Org (must be a PaymentHandler, RFC 6.1.2; signature recomputed)",
        lambda t: once(t, ">OfferResponse</Attribute>", ">PaymentResponse</Attribute>"))


# --------------------------------------------------------------------------------------


def main():
    purchase, pinfo = build_purchase()
    build_paydelivery()
    build_refund(purchase.tid)
    build_deposit()
    build_withdrawal()
    build_valueexchange()
    build_authentication()
    build_inquiry(purchase, pinfo)
    build_inquiry_delivery(purchase, pinfo)
    build_pings()
    build_cancel()
    build_decline()
    build_transient()
    build_harderror()
    build_extension()
    sanity()
    for f in os.listdir(VALID):
        if f.endswith(".xml"):
            os.remove(os.path.join(VALID, f))
    for name, text in FILES.items():
        with open(os.path.join(VALID, name), "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    with open(os.path.join(VALID, "TRANSACTIONS.tsv"), "w") as fh:
        for T in ALL_TXNS:
            fh.write("%s\t%s\n" % (T.name, " ".join(T.files)))
    with open(os.path.join(VALID, "NOT-DTD-VALID.txt"), "w") as fh:
        fh.write("extension-noncritical.xml\n")
    os.makedirs(INVALID, exist_ok=True)
    for f in os.listdir(INVALID):
        if f.endswith(".xml"):
            os.remove(os.path.join(INVALID, f))
    build_invalid()
    with open(os.path.join(INVALID, "EXPECTED.tsv"), "w") as fh:
        for row in INVALID_ROWS:
            fh.write("\t".join(row) + "\n")
    print("valid: %d files, invalid: %d files" % (len(FILES), len(INVALID_ROWS)))


if __name__ == "__main__":
    sys.exit(main())
