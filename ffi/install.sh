#!/usr/bin/env bash
# Installs libiotp for C programs: include/iotp.h (and iotp_plugin.h, for plugin authors),
# libiotp.so.VERSION (with its SONAME and libiotp.so as symlinks) and libiotp.a in PREFIX/lib, the plugins nodes load (every libiotp_scheme_*.so and
# libiotp_transport_*.so built) in PREFIX/lib/iotp, and PREFIX/lib/pkgconfig/iotp.pc.
#
#   cargo build --release -p iotp-ffi -p iotp-plugin-mock -p iotp-transport-http
#   ffi/install.sh [PREFIX]          PREFIX defaults to /usr/local
#
# PROFILE=debug installs the debug build instead; CARGO_TARGET_DIR is honoured. Then:
#   cc app.c $(pkg-config --cflags --libs iotp)
# (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig when PREFIX is not a standard location; run
# ldconfig, or set LD_LIBRARY_PATH, for the loader to find libiotp.so).
set -euo pipefail

prefix=${1:-/usr/local}
profile=${PROFILE:-release}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}/$profile

flag=--release
[ "$profile" = release ] || flag=""
for lib in libiotp.so libiotp.a; do
    if [ ! -f "$target/$lib" ]; then
        echo "install.sh: $target/$lib is missing; build it first:" >&2
        echo "  cargo build $flag -p iotp-ffi -p iotp-plugin-mock -p iotp-transport-http" >&2
        exit 1
    fi
done

# The version the header declares (tests keep it equal to Cargo.toml's).
version=$(sed -n 's/^#define IOTP_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$/\2/p' \
    "$root/include/iotp.h" | paste -sd.)

install -d "$prefix/include" "$prefix/lib/pkgconfig" "$prefix/lib/iotp"
install -m 644 "$root/include/iotp.h" "$root/include/iotp_plugin.h" "$prefix/include/"
# The real file, its SONAME (recorded in it when linked) and the development name.
soname=$(readelf -d "$target/libiotp.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ -z "$soname" ]; then
    echo "install.sh: $target/libiotp.so has no SONAME; rebuild it" >&2
    exit 1
fi
install -m 755 "$target/libiotp.so" "$prefix/lib/libiotp.so.$version"
ln -sf "libiotp.so.$version" "$prefix/lib/$soname"
ln -sf "$soname" "$prefix/lib/libiotp.so"
install -m 644 "$target/libiotp.a" "$prefix/lib/"
for plugin in "$target"/libiotp_scheme_*.so "$target"/libiotp_transport_*.so; do
    if [ -f "$plugin" ]; then
        install -m 755 "$plugin" "$prefix/lib/iotp/"
    fi
done
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$root/ffi/iotp.pc.in" \
    > "$prefix/lib/pkgconfig/iotp.pc"
echo "install.sh: installed libiotp $version in $prefix"
