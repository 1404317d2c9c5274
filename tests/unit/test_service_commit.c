/* Group commit (svc_commit.c): changes from many threads at once are each written exactly once,
 * one that fails is undone alone and reports its own error, whether its caller waited or was
 * told later (svc_commit_async), and closing the service writes what is queued before it
 * returns. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "certhub/error.h"
#include "certhub/service.h"
#include "service/svc_internal.h"
#include "testutil.h"

#define THREADS 6
#define CHANGES 150

static char dir[1024];
static ch_svc *svc;

struct change {
    char id[CH_ID_MAX];
    char name[64];
    bool fail_after_write; /* writes its row, then fails: the row must not stay */
};

static int put_tenant(void *arg)
{
    struct change *c = arg;
    ch_store_tenant t = {.id = c->id, .name = c->name, .created_at = 1};
    int error;

    if ((error = ch_store_tenant_put(ch_svc_store(svc), &t)) < 0)
        return error;
    if (c->fail_after_write)
        return ch_error_set_field(CH_EINVAL, "name", "%s was refused after its row was written", c->name);
    return 0;
}

struct worker {
    int index;
    int ok, taken, refused, wrong_message, told_twice, not_queued;
};

/* A caller told later: ready() says so, once. */
struct told {
    pthread_mutex_t m;
    pthread_cond_t c;
    int times;
};

static void ready(void *arg)
{
    struct told *t = arg;

    pthread_mutex_lock(&t->m);
    t->times++;
    pthread_cond_signal(&t->c);
    pthread_mutex_unlock(&t->m);
}

/* Odd threads do not wait for the commit: they are told, then take the result. */
static int commit_as(struct worker *w, struct change *c)
{
    struct told t = {.m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};
    struct svc_gc_item *queued;
    int error;

    if (w->index % 2 == 0)
        return svc_commit(svc, put_tenant, c);
    if ((error = svc_commit_async(svc, put_tenant, c, ready, &t, &queued)) != 1) {
        w->not_queued++;
        return error;
    }
    pthread_mutex_lock(&t.m);
    while (t.times == 0)
        pthread_cond_wait(&t.c, &t.m);
    pthread_mutex_unlock(&t.m);
    error = svc_commit_end(queued);
    pthread_mutex_lock(&t.m);
    if (t.times != 1)
        w->told_twice++;
    pthread_mutex_unlock(&t.m);
    return error;
}

static void *writer(void *p)
{
    struct worker *w = p;

    for (int i = 0; i < CHANGES; i++) {
        struct change c = {.fail_after_write = i % 7 == 3};
        char want[128];
        int error;

        ch_store_new_id(c.id, "tnt_");
        /* every fifth takes a name another thread took too: the second to commit must fail */
        if (i % 5 == 0)
            snprintf(c.name, sizeof c.name, "shared-%d", i);
        else
            snprintf(c.name, sizeof c.name, "w%d-%d", w->index, i);
        error = commit_as(w, &c);
        if (error == 0) {
            w->ok++;
        } else if (error == CH_EEXISTS) {
            w->taken++;
        } else if (error == CH_EINVAL) {
            w->refused++;
            /* the error is this change's, whichever thread wrote it */
            snprintf(want, sizeof want, "%s was refused after its row was written", c.name);
            if (strcmp(ch_error_last(), want) != 0 || ch_error_field() == NULL || strcmp(ch_error_field(), "name") != 0)
                w->wrong_message++;
        }
    }
    return NULL;
}

static int64_t count_tenants(const char *like)
{
    ch_store_tenant *list;
    size_t n, hits = 0;

    assert_int_equal(ch_store_tenant_list(ch_svc_store(svc), &list, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (strncmp(list[i].name, like, strlen(like)) == 0)
            hits++;
    ch_store_tenant_list_free(list, n);
    return (int64_t)hits;
}

static void test_many_threads(void **state)
{
    struct worker w[THREADS];
    pthread_t t[THREADS];
    int ok = 0, taken = 0, refused = 0, shared_ok = 0;

    (void)state;
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.index = i};
        assert_int_equal(pthread_create(&t[i], NULL, writer, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].wrong_message, 0);
        assert_int_equal(w[i].told_twice, 0);
        assert_int_equal(w[i].not_queued, 0); /* the writer thread took every one */
        assert_int_equal(w[i].ok + w[i].taken + w[i].refused, CHANGES);
        ok += w[i].ok;
        taken += w[i].taken;
        refused += w[i].refused;
    }
    /* Of each shared name exactly one change stayed, unless every one taking it was refused
     * after writing (i % 7 == 3 holds for all threads alike at a given i). */
    for (int i = 0; i < CHANGES; i += 5)
        if (i % 7 != 3)
            shared_ok++;
    assert_int_equal(count_tenants("shared-"), shared_ok);
    assert_int_equal(taken, shared_ok * (THREADS - 1));
    assert_int_equal(ok, count_tenants("w") + shared_ok);
    /* The refused wrote a row each and none stayed. */
    assert_int_equal(refused, THREADS * ((CHANGES + 3) / 7));
}

/* Threads still writing when the service closes: each change acknowledged is in the store
 * opened again. */
static void *write_until_closed(void *p)
{
    struct worker *w = p;

    for (int i = 0; i < 40; i++) {
        struct change c = {0};
        ch_store_new_id(c.id, "tnt_");
        snprintf(c.name, sizeof c.name, "late%d-%d", w->index, i);
        if (svc_commit(svc, put_tenant, &c) == 0)
            w->ok++;
    }
    return NULL;
}

static void test_close_writes_queued(void **state)
{
    struct worker w[THREADS];
    pthread_t t[THREADS];
    ch_svc_opts o = {.data_dir = dir};
    int ok = 0;

    (void)state;
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.index = i};
        assert_int_equal(pthread_create(&t[i], NULL, write_until_closed, &w[i]), 0);
    }
    /* Stopping the writer thread while they write: what queued is written by its own threads. */
    svc_commit_stop(svc);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].ok, 40);
        ok += w[i].ok;
    }
    ch_svc_close(svc);
    assert_int_equal(ch_svc_open(&svc, &o), 0);
    assert_int_equal(count_tenants("late"), ok);
}

/* Changes queued by callers that do not wait, outstanding when the writer thread is stopped:
 * it writes them and tells each before it ends; once it has, such a change is written at
 * once, on the caller's thread. */
static void test_stop_writes_untold(void **state)
{
    enum { N = 200 };
    static struct change c[N];
    static struct svc_gc_item *queued[N];
    struct told t = {.m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};
    struct change after = {0};
    ch_svc_opts o = {.data_dir = dir};

    (void)state;
    for (int i = 0; i < N; i++) {
        ch_store_new_id(c[i].id, "tnt_");
        snprintf(c[i].name, sizeof c[i].name, "untold-%d", i);
        c[i].fail_after_write = i % 9 == 4;
        assert_int_equal(svc_commit_async(svc, put_tenant, &c[i], ready, &t, &queued[i]), 1);
    }
    svc_commit_stop(svc);
    assert_int_equal(t.times, N);
    for (int i = 0; i < N; i++) {
        int error = svc_commit_end(queued[i]);
        assert_int_equal(error, c[i].fail_after_write ? CH_EINVAL : 0);
        if (error < 0)
            assert_string_equal(ch_error_field(), "name");
    }
    ch_store_new_id(after.id, "tnt_");
    snprintf(after.name, sizeof after.name, "untold-after");
    assert_int_equal(svc_commit_async(svc, put_tenant, &after, ready, &t, &queued[0]), 0);
    assert_null(queued[0]);
    assert_int_equal(t.times, N);
    ch_svc_close(svc);
    assert_int_equal(ch_svc_open(&svc, &o), 0);
    assert_int_equal(count_tenants("untold-"), N - (N + 4) / 9 + 1);
}

static int setup(void **state)
{
    ch_svc_opts o = {0};

    (void)state;
    snprintf(dir, sizeof dir, "%s", tu_tmpdir("service-commit"));
    o.data_dir = dir;
    return ch_svc_open(&svc, &o) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ch_svc_close(svc);
    tu_rmtree(dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_threads),
        cmocka_unit_test(test_close_writes_queued),
        cmocka_unit_test(test_stop_writes_untold),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
