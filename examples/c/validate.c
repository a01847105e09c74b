/*
 * validate: checks IOTP messages with libiotp, like `iotp validate`.
 *
 *   validate [--canonical] [--tree] FILE...
 *
 * Prints `FILE: valid` or `FILE: invalid` and one line per problem (line, severity, error code,
 * element and attribute, description). With --canonical, also the canonical form of each valid
 * message; with --tree, the document as a tree with its references resolved (iotp inspect).
 * Exit status: 0 when every file is valid (warnings allowed), 1 when one is invalid, 2 when
 * one cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iotp.h"

/* Reads a whole file; the caller frees *data. Returns 0 on success. */
static int read_file(const char *path, unsigned char **data, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return -1;
    }
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }
        unsigned char *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = buf == NULL || ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* Prints bytes returned by the library, then frees them. */
static void print_bytes(iotp_bytes *bytes) {
    fwrite(iotp_bytes_data(bytes), 1, iotp_bytes_len(bytes), stdout);
    iotp_bytes_free(bytes);
}

/* Validates one file; returns 0 (valid), 1 (invalid) or 2 (unreadable). */
static int validate(const char *path, int canonical, int tree) {
    unsigned char *data;
    size_t len;
    if (read_file(path, &data, &len) != 0) {
        fprintf(stderr, "validate: %s: cannot read\n", path);
        return 2;
    }
    iotp_report *report = NULL;
    iotp_result result = iotp_report_read(data, len, &report);
    if (result != IOTP_RESULT_OK) {
        fprintf(stderr, "validate: %s: %s\n", path, iotp_error_detail());
        free(data);
        return 2;
    }
    int valid = iotp_report_is_valid(report);
    printf("%s: %s\n", path, valid ? "valid" : "invalid");
    size_t count = iotp_report_problem_count(report);
    for (size_t i = 0; i < count; i++) {
        iotp_problem problem;
        if (iotp_report_problem(report, i, &problem) != IOTP_RESULT_OK) {
            continue;
        }
        printf("  ");
        if (problem.line > 0) {
            printf("line %u: ", (unsigned)problem.line);
        }
        printf("%s %s %s", problem.severity, problem.code, problem.element);
        if (problem.attribute != NULL) {
            printf("/@%s", problem.attribute);
        }
        printf(": %s\n", problem.message);
    }
    if (canonical && valid) {
        iotp_bytes *xml = NULL;
        if (iotp_report_canonical(report, &xml) == IOTP_RESULT_OK) {
            print_bytes(xml);
            printf("\n");
        }
    }
    if (tree) {
        iotp_bytes *text = NULL;
        if (iotp_inspect(data, len, &text) == IOTP_RESULT_OK) {
            print_bytes(text);
        } else {
            printf("  (no tree: %s)\n", iotp_error_detail());
        }
    }
    iotp_report_free(report);
    free(data);
    return valid ? 0 : 1;
}

int main(int argc, char **argv) {
    int canonical = 0, tree = 0, files = 0, worst = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--canonical") == 0) {
            canonical = 1;
        } else if (strcmp(argv[i], "--tree") == 0) {
            tree = 1;
        } else {
            int status = validate(argv[i], canonical, tree);
            worst = status > worst ? status : worst;
            files++;
        }
    }
    if (files == 0) {
        fprintf(stderr, "usage: validate [--canonical] [--tree] FILE...\n");
        return 2;
    }
    return worst;
}
