/* harness.h - the smallest test harness that does the job.

   Each test file is one program: it calls CHECK()/CHECK_NEAR() as often as it
   likes and ends main() with `return harness_summary();`, which prints the
   line "N passed, N failed" and returns non-zero when anything failed.
   No static constructors, no globals across translation units: include it in
   exactly one .c file per test program. */
#ifndef HARNESS_H
#define HARNESS_H

#include <math.h>
#include <stdio.h>

static int harness_passed, harness_failed;

/* CHECK(cond, "fmt", ...) - count one check; on failure print where and why. */
#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (cond) {                                                         \
            harness_passed++;                                               \
        } else {                                                            \
            harness_failed++;                                               \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            printf(__VA_ARGS__);                                            \
            printf("\n");                                                   \
        }                                                                   \
    } while (0)

/* CHECK_NEAR(a, b, tol) - |a - b| <= tol, NaN never passes. */
#define CHECK_NEAR(a, b, tol)                                               \
    do {                                                                    \
        double harness_a_ = (double)(a), harness_b_ = (double)(b);          \
        CHECK(fabs(harness_a_ - harness_b_) <= (double)(tol),               \
              "%s = %.9g, %s = %.9g, tol %.3g", #a, harness_a_, #b,         \
              harness_b_, (double)(tol));                                   \
    } while (0)

static int harness_summary(void)
{
    printf("%d passed, %d failed\n", harness_passed, harness_failed);
    return harness_failed != 0;
}

#endif /* HARNESS_H */
