/* test_util.h - tiny assertion helpers: every failure prints what differed
 * and by how much, and the test exits non-zero at the end. */
#ifndef BF_TEST_UTIL_H
#define BF_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int bf_test_failures;

#define T_CHECK(cond, ...)                                                      \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
            bf_test_failures++;                                                 \
        }                                                                       \
    } while (0)

#define T_EQ_I(a, b)                                                                     \
    T_CHECK((long long)(a) == (long long)(b), "got %lld, expected %lld", (long long)(a), \
            (long long)(b))
#define T_EQ_S(a, b) T_CHECK(strcmp((a), (b)) == 0, "got '%s', expected '%s'", (a), (b))
#define T_NEAR(a, b, tol)                                                                  \
    T_CHECK(fabs((double)(a) - (double)(b)) <= (tol), "got %.9g, expected %.9g (|diff| %.3g > %.3g)", \
            (double)(a), (double)(b), fabs((double)(a) - (double)(b)), (double)(tol))
#define T_CONTAINS(hay, needle) \
    T_CHECK(strstr((hay), (needle)) != NULL, "'%s' does not contain '%s'", (hay), (needle))

static inline int bf_test_done(const char *name)
{
    if (bf_test_failures) {
        fprintf(stderr, "%s: %d check(s) FAILED\n", name, bf_test_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
