/* minimal: reads an IOTP message from a string and lists its problems. */
#include <stdio.h>
#include <string.h>

#include <iotp.h>

int main(void) {
    const char *doc = "<IotpMessage xmlns='iotp:ietf.org/iotp-v1.0'/>";
    iotp_report *report = NULL;
    if (iotp_report_read((const uint8_t *)doc, strlen(doc), &report) != IOTP_RESULT_OK) {
        fprintf(stderr, "%s\n", iotp_error_detail());
        return 2;
    }
    printf("libiotp %s: %s\n", iotp_version(), iotp_report_is_valid(report) ? "valid" : "invalid");
    for (size_t i = 0; i < iotp_report_problem_count(report); i++) {
        iotp_problem problem;
        if (iotp_report_problem(report, i, &problem) == IOTP_RESULT_OK) {
            printf("  %s %s %s: %s\n", problem.severity, problem.code, problem.element,
                   problem.message);
        }
    }
    iotp_report_free(report);
    return 0;
}
