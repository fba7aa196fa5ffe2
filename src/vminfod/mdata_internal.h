/* Shared by the parts of the metadata service (mdata.h):
 *   mdata.c       service thread: epoll loop, VM table (sockets, HVM
 *                 connections), vminfod event feed, timers
 *   mdata_conn.c  connections: framing, requests, update workers
 * Everything here belongs to the service thread unless marked "jobs". */
#ifndef VMINFOD_MDATA_INTERNAL_H
#define VMINFOD_MDATA_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mdata.h"
#include "strmap.h"

/* What an epoll entry is (epoll data.ptr points at one of these first). */
enum { MD_EV_WAKE = 1, MD_EV_FEED, MD_EV_TIMER, MD_EV_JOBS, MD_EV_LISTEN, MD_EV_CONN };

struct md_vm;

struct md_conn {
    int evtype; /* MD_EV_CONN */
    struct md_conn *prev, *next; /* the VM's connections */
    struct md_conn *rnext; /* round-robin list of connections with work */
    struct md_vm *vm; /* NULL once the VM is gone (conn waits for its job) */
    char uuid[37];
    int fd;
    bool hvm, in_rr, busy, dead, eof, skipping, in_grave;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off;
    uint32_t events; /* epoll interest now */
};

struct md_job {
    struct md_job *next;
    struct md_conn *conn;
    char uuid[37];
    char reqid[24];
    int op;
    char *key;
    json_t *payload;
    int64_t t0_us;
    int rc;
    char msg[VM_ERR_MSGLEN];
};

struct md_vm {
    int evtype; /* MD_EV_LISTEN (the container socket) */
    char uuid[37];
    bool ct, hvm;
    int lfd; /* container: listening socket, -1 when none */
    dev_t sock_dev;
    ino_t sock_ino;
    struct md_conn *conns;
    int nconns;
    struct md_conn *hvm_conn;
    /* Updates: at most one queued or running per VM; the rest wait here. */
    struct md_job *waiting, **waiting_tail;
    bool job_running;
    bool seen; /* full reconcile mark */
    struct md_vm *gnext; /* grave_vms */
};

struct vminfod_mdata {
    vminfod *d;
    vminfod_mdata_opts opts;
    int ep;
    int wake_fd; /* stop */
    int feed_fd; /* eventfd: the events listener has data */
    int timer_fd;
    int jobs_fd; /* eventfd: finished jobs */
    int ev_wake, ev_feed, ev_timer, ev_jobs; /* epoll tags */
    pthread_t thread;
    bool running;
    strmap *vms; /* uuid -> struct md_vm */
    struct vminfod_listener *listener;
    char *feed_buf;
    size_t feed_len, feed_cap;
    struct md_conn *rr_head, *rr_tail;
    /* Closed during a batch of epoll events, freed after it (a later
     * event of the same batch may still point at them). */
    struct md_conn *grave;
    struct md_vm *grave_vms;
    int64_t last_full_ms;

    /* ---- jobs: under jlock ---- */
    pthread_mutex_t jlock;
    pthread_cond_t jcond;
    struct md_job *queue, **queue_tail; /* to run */
    struct md_job *done, **done_tail; /* finished */
    bool stopping;
    pthread_t *workers;
    int nworkers;
};

/* ---- mdata_conn.c ---- */
struct md_conn *md_conn_new(vminfod_mdata *m, struct md_vm *vm, int fd, bool hvm);
/* Frees a connection (or marks it dead when its update is still running). */
void md_conn_close(vminfod_mdata *m, struct md_conn *c);
/* Frees what was closed during the last batch. */
void md_grave_empty(vminfod_mdata *m);
void md_conn_event(vminfod_mdata *m, struct md_conn *c, uint32_t events);
/* Serves the connections with buffered requests, a few each, round-robin;
 * returns true when some still have work. */
bool md_serve_round(vminfod_mdata *m);
int md_workers_start(vminfod_mdata *m, vm_err *err);
void md_workers_stop(vminfod_mdata *m);
/* Replies to the finished updates. */
void md_jobs_finish(vminfod_mdata *m);
void md_job_free(struct md_job *j);
int64_t md_now_us(void);

#endif
