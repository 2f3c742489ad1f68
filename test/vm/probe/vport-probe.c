/* Kernel-level probe of a virtio-serial port, run inside the test VM by port-probe.js.
 * Built statically on the host by port-probe.ts (gcc -static). Each subcommand prints one JSON
 * object on stdout describing exactly what the syscalls returned.
 *
 *   vport-probe poll  DEV TIMEOUT_MS            open O_RDWR|O_NONBLOCK, poll(POLLIN|POLLOUT)
 *   vport-probe read  DEV block|nonblock MS     one read(4096), interrupted by alarm after MS
 *   vport-probe write DEV block|nonblock MS     one write("probe\n"), interrupted after MS
 *   vport-probe open2 DEV                       open twice; errno of the second open
 *   vport-probe sigio DEV SECONDS               O_ASYNC + F_SETOWN; log each SIGIO with poll()
 *   vport-probe spin  DEV MS                    poll+read loop for MS: how often does it wake?
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static const char *revents_text(short ev, char *out, size_t size) {
    out[0] = 0;
    if (ev & POLLIN) strncat(out, "POLLIN|", size - strlen(out) - 1);
    if (ev & POLLOUT) strncat(out, "POLLOUT|", size - strlen(out) - 1);
    if (ev & POLLHUP) strncat(out, "POLLHUP|", size - strlen(out) - 1);
    if (ev & POLLERR) strncat(out, "POLLERR|", size - strlen(out) - 1);
    if (ev & POLLNVAL) strncat(out, "POLLNVAL|", size - strlen(out) - 1);
    size_t n = strlen(out);
    if (n > 0) out[n - 1] = 0;
    return out;
}

static void on_alarm(int sig) { (void)sig; }

static void arm_alarm_ms(long ms) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: the blocked syscall returns EINTR */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

static int open_port(const char *dev, int flags) {
    int fd = open(dev, flags | O_CLOEXEC);
    if (fd < 0) {
        printf("{\"open\":\"%s\",\"errno\":\"%s\"}\n", dev, strerrorname_np(errno));
        exit(1);
    }
    return fd;
}

static volatile sig_atomic_t sigio_count;
static void on_sigio(int sig) { (void)sig; sigio_count++; }

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 3) return 2;
    const char *cmd = argv[1], *dev = argv[2];
    char text[64];

    if (!strcmp(cmd, "poll")) {
        int fd = open_port(dev, O_RDWR | O_NONBLOCK);
        struct pollfd p = {fd, POLLIN | POLLOUT, 0};
        double t0 = now_ms();
        int r = poll(&p, 1, atoi(argv[3]));
        printf("{\"poll\":%d,\"revents\":\"%s\",\"ms\":%.1f}\n", r, revents_text(p.revents, text, sizeof text), now_ms() - t0);
    } else if (!strcmp(cmd, "read") || !strcmp(cmd, "write")) {
        int nonblock = !strcmp(argv[3], "nonblock");
        int fd = open_port(dev, O_RDWR | (nonblock ? O_NONBLOCK : 0));
        char buf[4096];
        arm_alarm_ms(atol(argv[4]));
        double t0 = now_ms();
        ssize_t r = !strcmp(cmd, "read") ? read(fd, buf, sizeof buf) : write(fd, "probe\n", 6);
        int e = errno;
        double ms = now_ms() - t0;
        if (r < 0)
            printf("{\"%s\":-1,\"errno\":\"%s\",\"ms\":%.1f}\n", cmd, strerrorname_np(e), ms);
        else if (!strcmp(cmd, "read"))
            printf("{\"read\":%zd,\"data\":\"%.*s\",\"ms\":%.1f}\n", r, (int)(r > 0 && buf[r - 1] == '\n' ? r - 1 : r), buf, ms);
        else
            printf("{\"write\":%zd,\"ms\":%.1f}\n", r, ms);
    } else if (!strcmp(cmd, "open2")) {
        int fd = open_port(dev, O_RDWR);
        int fd2 = open(dev, O_RDWR);
        int e = errno;
        int fd3 = open(dev, O_RDONLY);
        int e3 = errno;
        printf("{\"first\":%d,\"second\":%d,\"secondErrno\":\"%s\",\"secondRdonly\":%d,\"secondRdonlyErrno\":\"%s\"}\n",
               fd >= 0, fd2, fd2 < 0 ? strerrorname_np(e) : "", fd3, fd3 < 0 ? strerrorname_np(e3) : "");
    } else if (!strcmp(cmd, "sigio")) {
        int fd = open_port(dev, O_RDWR | O_NONBLOCK);
        signal(SIGIO, on_sigio);
        fcntl(fd, F_SETOWN, getpid());
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC);
        double end = now_ms() + atoi(argv[3]) * 1000.0;
        int seen = 0;
        printf("{\"sigio\":\"armed\"}\n");
        while (now_ms() < end) {
            usleep(20000);
            if (sigio_count != seen) {
                seen = sigio_count;
                struct pollfd p = {fd, POLLIN | POLLOUT, 0};
                poll(&p, 1, 0);
                printf("{\"sigio\":%d,\"revents\":\"%s\"}\n", seen, revents_text(p.revents, text, sizeof text));
            }
        }
        printf("{\"sigioTotal\":%d}\n", (int)sigio_count);
    } else if (!strcmp(cmd, "spin")) {
        int fd = open_port(dev, O_RDWR | O_NONBLOCK);
        double end = now_ms() + atoi(argv[3]);
        long wakeups = 0, zero_reads = 0, eagain = 0;
        char buf[4096];
        while (now_ms() < end) {
            struct pollfd p = {fd, POLLIN, 0};
            if (poll(&p, 1, 100) > 0) {
                wakeups++;
                ssize_t r = read(fd, buf, sizeof buf);
                if (r == 0) zero_reads++;
                else if (r < 0 && errno == EAGAIN) eagain++;
            }
        }
        printf("{\"wakeups\":%ld,\"zeroReads\":%ld,\"eagain\":%ld,\"ms\":%s}\n", wakeups, zero_reads, eagain, argv[3]);
    } else {
        return 2;
    }
    return 0;
}
