/*
 * Shared pieces of certhub's benchmarks: a fixed-duration multi-thread runner and the
 * OpenSSL-alone reference rates that every figure is printed beside.
 */
#ifndef CERTHUB_BENCH_COMMON_H
#define CERTHUB_BENCH_COMMON_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* One operation of a benchmark: returns 0 on success.  arg is per-thread state. */
typedef int (*bench_op)(void *arg);

static inline double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct bench_thread {
    pthread_t tid;
    bench_op op;
    void *arg;
    double seconds;
    unsigned long done;
    int failed;
};

static void *bench_thread_main(void *p)
{
    struct bench_thread *t = p;
    double end = bench_now() + t->seconds;

    while (bench_now() < end) {
        /* Check the clock every 16 operations: cheap ones would otherwise measure the clock. */
        for (int i = 0; i < 16; i++) {
            int r = t->op(t->arg);
            if (r > 0)
                return NULL; /* no more work: the rate is over the time it took */
            if (r != 0) {
                t->failed = 1;
                return NULL;
            }
            t->done++;
        }
    }
    return NULL;
}

/* The most threads (or connections) a case may run: the load tools size their arrays by it. */
#define BENCH_MAX_THREADS 64

/* Runs op on nthreads threads (args[i] per thread) for seconds, or until op returns 1 (no
 * more work); returns operations/s, or -1 when an operation failed (op returned < 0). */
static inline double bench_run(bench_op op, void **args, int nthreads, double seconds)
{
    struct bench_thread *t = calloc((size_t)(nthreads > 0 ? nthreads : 1), sizeof *t);
    unsigned long total = 0;
    double start, elapsed;
    int failed = 0;

    if (t == NULL)
        return -1.0;
    start = bench_now();
    for (int i = 0; i < nthreads; i++) {
        t[i] = (struct bench_thread){.op = op, .arg = args[i], .seconds = seconds};
        pthread_create(&t[i].tid, NULL, bench_thread_main, &t[i]);
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(t[i].tid, NULL);
        total += t[i].done;
        failed |= t[i].failed;
    }
    elapsed = bench_now() - start;
    free(t);
    return failed ? -1.0 : (double)total / elapsed;
}

#endif
