/*
 * Group commit.  A request's writes are small and the commit dominates them; when several
 * threads are waiting to write, the first becomes the leader and runs the writes of all of
 * them in one transaction, each in its own savepoint (one that fails is undone alone), then
 * wakes them.  Nobody returns before the transaction holding its writes has committed.
 */
#include <stdio.h>
#include <string.h>

#include "svc_internal.h"

struct svc_gc_item {
    svc_tx_fn fn;
    void *arg;
    int result;
    bool done;
    char msg[512];
    char field[64];
    char reason[48];
    struct svc_gc_item *next;
};

static void capture(struct svc_gc_item *it, int result)
{
    it->result = result;
    if (result < 0) {
        snprintf(it->msg, sizeof it->msg, "%s", ch_error_last());
        snprintf(it->field, sizeof it->field, "%s", ch_error_field() ? ch_error_field() : "");
        snprintf(it->reason, sizeof it->reason, "%s", ch_error_reason() ? ch_error_reason() : "");
    }
}

static void run_batch(ch_svc *svc, struct svc_gc_item *batch)
{
    struct svc_gc_item *it;
    int error;

    if ((error = ch_store_begin(svc->store)) < 0) {
        for (it = batch; it; it = it->next)
            capture(it, error);
        return;
    }
    /* Alone in its transaction, a change that fails is undone by rolling the transaction back:
     * no savepoint (two statements more for each change when requests come one at a time). */
    if (batch->next == NULL) {
        if ((error = batch->fn(batch->arg)) < 0 || (error = ch_store_commit(svc->store)) < 0) {
            capture(batch, error);
            ch_store_rollback(svc->store);
        } else {
            batch->result = 0;
        }
        return;
    }
    for (it = batch; it; it = it->next) {
        if ((error = ch_store_savepoint(svc->store)) < 0) {
            capture(it, error);
            continue;
        }
        error = it->fn(it->arg);
        if (error < 0) {
            capture(it, error);
            ch_store_savepoint_rollback(svc->store);
        } else if ((error = ch_store_savepoint_release(svc->store)) < 0) {
            capture(it, error);
            ch_store_savepoint_rollback(svc->store);
        } else {
            it->result = 0;
        }
    }
    if ((error = ch_store_commit(svc->store)) < 0) {
        ch_store_rollback(svc->store);
        for (it = batch; it; it = it->next)
            if (it->result == 0)
                capture(it, error);
    }
}

int svc_commit(ch_svc *svc, svc_tx_fn fn, void *arg)
{
    struct svc_gc_item item = {.fn = fn, .arg = arg};

    pthread_mutex_lock(&svc->gc_lock);
    if (svc->gc_tail)
        svc->gc_tail->next = &item;
    else
        svc->gc_head = &item;
    svc->gc_tail = &item;
    while (!item.done) {
        if (svc->gc_leader) {
            pthread_cond_wait(&svc->gc_cond, &svc->gc_lock);
            continue;
        }
        /* Lead: take everything queued so far. */
        struct svc_gc_item *batch = svc->gc_head, *it, *next;
        svc->gc_head = svc->gc_tail = NULL;
        svc->gc_leader = true;
        pthread_mutex_unlock(&svc->gc_lock);
        run_batch(svc, batch);
        pthread_mutex_lock(&svc->gc_lock);
        for (it = batch; it; it = next) {
            next = it->next;
            it->done = true; /* after this the waiter may return and its item vanish */
        }
        svc->gc_leader = false;
        pthread_cond_broadcast(&svc->gc_cond);
    }
    pthread_mutex_unlock(&svc->gc_lock);
    /* The writes may have run on another thread: its error becomes this thread's. */
    if (item.result < 0) {
        ch_error_set_field(item.result, item.field[0] ? item.field : NULL, "%s", item.msg);
        if (item.reason[0])
            ch_error_set_reason(item.reason);
    }
    return item.result;
}
