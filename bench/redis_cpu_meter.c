/* redis_cpu_meter: the CPU time one thread has had, read every PERIOD µs on the wall clock.
 *
 * bench/router_bench.py --pin --redis-cpu runs it on Redis's core to tell a script run that took long because of its own
 * work from one during which the core was taken away. Redis's SLOWLOG times a script on the wall clock; on a VM the
 * hypervisor deschedules a vCPU for milliseconds now and then (steal time, which /proc/stat reports only in 10 ms
 * units), and that time lands in whatever script is running. The kernel leaves steal time out of a thread's CPU
 * time when the hypervisor reports it (KVM does), so the CPU time of Redis's main thread across a script run is
 * what the run used, whatever the wall clock says.
 *
 * It pins itself to the core given and takes SCHED_FIFO priority 99 (above Redis's --rt priority 1, so it runs as
 * soon as its timer fires), wakes every PERIOD µs on an absolute CLOCK_REALTIME timer (the clock Redis's TIME
 * reads) and prints "<woke µs> <cpu µs>": the time and the watched thread's CPU time so far
 * (/proc/<pid>/task/<tid>/schedstat, first field). The CPU time between the wake-ups just before and just after a
 * run bounds what the run used (from above; by at most what the thread did in those two partial periods). Cost:
 * PERIOD = 500 µs is 2,000 wake-ups per second of a few µs each. Write its output to tmpfs: a write to a
 * disk-backed file can block it.
 *
 *   redis_cpu_meter CORE PERIOD_US TASK_SCHEDSTAT_PATH     (needs root or CAP_SYS_NICE; runs until the thread ends
 *                                                         or it is killed)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: redis_cpu_meter CORE PERIOD_US TASK_SCHEDSTAT_PATH\n");
        return 2;
    }
    long period = atol(argv[2]);
    int watched = open(argv[3], O_RDONLY);
    if (watched < 0) { perror(argv[3]); return 1; }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(atoi(argv[1]), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) { perror("sched_setaffinity"); return 1; }
    struct sched_param prio = {.sched_priority = 99};
    if (sched_setscheduler(0, SCHED_FIFO, &prio) != 0) { perror("sched_setscheduler"); return 1; }
    printf("ready\n");
    fflush(stdout);
    struct timespec due, now;
    char text[128];
    clock_gettime(CLOCK_REALTIME, &due);
    for (;;) {
        due.tv_nsec += period * 1000;
        while (due.tv_nsec >= 1000000000L) { due.tv_nsec -= 1000000000L; due.tv_sec++; }
        clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &due, NULL);
        clock_gettime(CLOCK_REALTIME, &now);
        ssize_t got = pread(watched, text, sizeof text - 1, 0);
        if (got <= 0) return 0;  /* the thread is gone */
        text[got] = 0;
        printf("%lld %lld\n", (long long)now.tv_sec * 1000000LL + now.tv_nsec / 1000, atoll(text) / 1000);
        fflush(stdout);
        if (now.tv_sec > due.tv_sec || (now.tv_sec == due.tv_sec && now.tv_nsec > due.tv_nsec + period * 1000))
            due = now;  /* skip the wake-ups missed */
    }
}
