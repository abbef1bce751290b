/* test_ratelimit.c - token bucket arithmetic and the flock-shared daily quota
 * (several processes taking from one quota file never exceed its limit). */
#define _GNU_SOURCE
#include "core/data/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/test_util.h"

static void test_bucket(void)
{
    bf_ratelimit rl;
    bf_ratelimit_init(&rl, 20, 2, 1); /* 10/s for this rank */
    T_CHECK(rl.rate == 10, "rate %g, want 20/2", rl.rate);
    double t = rl.t_last;
    double w0 = bf_ratelimit_reserve(&rl, t);
    double w1 = bf_ratelimit_reserve(&rl, t);
    double w2 = bf_ratelimit_reserve(&rl, t);
    T_CHECK(w0 == 0 && w1 > 0.0999 && w1 < 0.1001 && w2 > 0.1999 && w2 < 0.2001,
           "queued waits %g %g %g, want 0 0.1 0.2", w0, w1, w2);
    /* after a long pause the bucket holds at most `burst` tokens */
    double w3 = bf_ratelimit_reserve(&rl, t + 100);
    double w4 = bf_ratelimit_reserve(&rl, t + 100);
    T_CHECK(w3 == 0 && w4 > 0.0999 && w4 < 0.1001, "after a pause: %g %g, want 0 0.1", w3, w4);
    bf_ratelimit_destroy(&rl);

    /* a greedy caller, simulated: sends when told; no 1 s window holds more
     * than rate + burst sends */
    bf_ratelimit_init(&rl, 7, 1, 1);
    double now = rl.t_last, sent[400];
    for (int i = 0; i < 400; i++) {
        now += bf_ratelimit_reserve(&rl, now);
        sent[i] = now;
    }
    int worst = 0;
    for (int i = 0, j = 0; i < 400; i++) {
        while (sent[i] - sent[j] > 1.0)
            j++;
        worst = i - j + 1 > worst ? i - j + 1 : worst;
    }
    T_CHECK(worst <= 8, "%d sends in a closed 1 s window at 7/s (burst 1), want <= 8", worst);
    T_CHECK(sent[399] - sent[0] > 56.9, "400 sends took %g s at 7/s, want 57", sent[399] - sent[0]);
    bf_ratelimit_destroy(&rl);

    bf_ratelimit_init(&rl, 0, 4, 1);
    T_CHECK(bf_ratelimit_reserve(&rl, rl.t_last) == 0 && bf_ratelimit_reserve(&rl, rl.t_last) == 0,
           "rate 0 must be unlimited");
    bf_ratelimit_destroy(&rl);
}

static void test_quota(const char *dir)
{
    bf_quota q;
    T_CHECK(bf_quota_init(&q, dir, "testprov", 5) == BF_OK, "init: %s", bf_last_error());
    int used = 0;
    for (int i = 1; i <= 5; i++) {
        bf_status st = bf_quota_take(&q, "2024-03-12", &used);
        T_CHECK(st == BF_OK && used == i, "take %d: status %d used %d", i, st, used);
    }
    bf_status st = bf_quota_take(&q, "2024-03-12", &used);
    T_CHECK(st == BF_EQUOTA && used == 5, "6th take: status %d used %d", st, used);
    T_CHECK(strstr(bf_last_error(), "quota of 5") && strstr(bf_last_error(), "2024-03-12"),
           "message: %s", bf_last_error());
    char path[1024];
    snprintf(path, sizeof path, "%s/.quota/testprov-2024-03-12", dir);
    struct stat sb;
    T_CHECK(stat(path, &sb) == 0 && sb.st_size == 5, "quota file %s size %lld", path,
           (long long)sb.st_size);
    T_CHECK(bf_quota_take(&q, "2024-03-13", &used) == BF_OK && used == 1, "a new day starts at 1");
    T_CHECK(bf_quota_exhaust(&q, "2024-03-13") == BF_OK, "exhaust");
    T_CHECK(bf_quota_used(&q, "2024-03-13", &used) == BF_OK && used == 5, "exhausted: used %d",
           used);
    T_CHECK(bf_quota_take(&q, "2024/03/13", &used) == BF_EINVAL, "bad day accepted");

    /* 4 processes x 12 takes against a limit of 25: exactly 25 succeed */
    bf_quota shared;
    bf_quota_init(&shared, dir, "shared", 25);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            int ok = 0, u;
            for (int i = 0; i < 12; i++)
                ok += bf_quota_take(&shared, "2024-03-12", &u) == BF_OK;
            _exit(ok);
        }
    }
    int total = 0;
    for (int k = 0; k < 4; k++) {
        int ws;
        waitpid(kids[k], &ws, 0);
        total += WIFEXITED(ws) ? WEXITSTATUS(ws) : 1000;
    }
    T_CHECK(total == 25, "4 processes took %d requests from a shared quota of 25", total);

    /* without a state directory: a per-process count */
    bf_quota mem;
    bf_quota_init(&mem, NULL, "mem", 2);
    T_CHECK(bf_quota_take(&mem, "2024-03-12", &used) == BF_OK &&
               bf_quota_take(&mem, "2024-03-12", &used) == BF_OK &&
               bf_quota_take(&mem, "2024-03-12", &used) == BF_EQUOTA,
           "per-process quota of 2");
    /* a state directory under a cache that does not exist yet */
    char nested[1024];
    snprintf(nested, sizeof nested, "%s/cache/not/made/.state", dir);
    bf_quota deep;
    T_CHECK(bf_quota_init(&deep, nested, "deep", 3) == BF_OK, "nested state dir: %s",
           bf_last_error());
    T_CHECK(bf_quota_take(&deep, "2024-03-12", &used) == BF_OK && used == 1, "nested take");
    bf_quota unl;
    bf_quota_init(&unl, dir, "unlimited", 0);
    for (int i = 0; i < 30; i++)
        T_CHECK(bf_quota_take(&unl, "2024-03-12", &used) == BF_OK, "limit 0 is unlimited");
}

int main(void)
{
    char dir[] = "/tmp/bf-ratelimit-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_bucket();
    test_quota(dir);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
    if (bf_test_failures) {
        fprintf(stderr, "test_ratelimit: %d check(s) failed\n", bf_test_failures);
        return 1;
    }
    printf("test_ratelimit: all checks passed\n");
    return 0;
}
