/* A minimal HTTP/1.1 client (plain or TLS, keep-alive, Content-Length framing) and helpers
 * to run a server under a benchmark: spawn it, wait for its port, read its resident memory. */
#ifndef CERTHUB_BENCH_HTTP_H
#define CERTHUB_BENCH_HTTP_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ssl.h>

/* ------------------------------------------------------------ a minimal HTTP/1.1 client */

struct conn {
    int fd;
    SSL *ssl; /* NULL: plain HTTP */
    char buf[65536];
    size_t have;
};

static inline int conn_write(struct conn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = c->ssl ? SSL_write(c->ssl, p, (int)n) : write(c->fd, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline ssize_t conn_read(struct conn *c)
{
    ssize_t r;

    if (c->have >= sizeof c->buf)
        return -1;
    r = c->ssl ? SSL_read(c->ssl, c->buf + c->have, (int)(sizeof c->buf - c->have))
               : read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
    if (r > 0)
        c->have += (size_t)r;
    return r;
}

static inline int conn_open(struct conn *c, int port, SSL_CTX *tls)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;

    memset(c, 0, sizeof *c);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (tls != NULL) {
        c->ssl = SSL_new(tls);
        SSL_set_fd(c->ssl, c->fd);
        SSL_set_tlsext_host_name(c->ssl, "localhost");
        if (SSL_connect(c->ssl) != 1)
            return -1;
    }
    return 0;
}

static inline void conn_close(struct conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd > 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

/* Sends one request and reads the response (Content-Length framed); returns the status and
 * leaves the body in c->buf[*body_at..]. */
static inline int conn_request(struct conn *c, const char *req, size_t len, size_t *body_at, size_t *body_len)
{
    char *hdr_end, *cl;
    size_t need;

    c->have = 0;
    if (conn_write(c, req, len) != 0)
        return -1;
    for (;;) {
        if (c->have > 0) {
            c->buf[c->have < sizeof c->buf ? c->have : sizeof c->buf - 1] = '\0';
            if ((hdr_end = strstr(c->buf, "\r\n\r\n")) != NULL)
                break;
        }
        if (conn_read(c) <= 0)
            return -1;
    }
    if ((cl = strcasestr(c->buf, "\r\nContent-Length:")) == NULL || cl > hdr_end)
        return -1;
    *body_at = (size_t)(hdr_end + 4 - c->buf);
    *body_len = strtoul(cl + 17, NULL, 10);
    need = *body_at + *body_len;
    while (c->have < need)
        if (conn_read(c) <= 0)
            return -1;
    return atoi(c->buf + 9);
}

/* ------------------------------------------------------------ servers */

static inline pid_t spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static inline int wait_port(int port, pid_t pid)
{
    for (int i = 0; i < 300; i++) {
        struct conn c;
        int ok = conn_open(&c, port, NULL) == 0;
        conn_close(&c);
        if (ok)
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        usleep(50000);
    }
    return -1;
}

/* CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
static inline double cpu_seconds(pid_t pid)
{
    char path[64], line[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    p = fgets(line, sizeof line, f);
    fclose(f);
    /* The command name may hold spaces: fields are counted after its closing parenthesis. */
    if (p == NULL || (p = strrchr(line, ')')) == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static inline long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static inline int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static inline char *http_request(const char *method, const char *path, const char *token, const char *body)
{
    char *out = NULL;
    size_t n = strlen(body);

    if (asprintf(&out,
                 "%s %s HTTP/1.1\r\nHost: localhost\r\n%s%s%sContent-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n%s",
                 method, path, token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "", n,
                 body) < 0)
        return NULL;
    return out;
}

/* One request on a new connection; the JSON body of the response, or NULL. */
static inline json_t *call(int port, SSL_CTX *tls, const char *method, const char *path, const char *token, const char *body,
                    char **raw)
{
    struct conn c;
    char *req = http_request(method, path, token, body);
    size_t at, len;
    json_t *j = NULL;
    int status;

    if (conn_open(&c, port, tls) == 0 && (status = conn_request(&c, req, strlen(req), &at, &len)) >= 200 &&
        status < 300) {
        if (raw)
            *raw = strndup(c.buf + at, len);
        else
            j = json_loadb(c.buf + at, len, 0, NULL);
    }
    conn_close(&c);
    free(req);
    return j;
}

#endif
