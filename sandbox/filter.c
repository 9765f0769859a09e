/* filter.c — the seccomp filter every sandboxed program runs under.
 *
 * Compiled with libseccomp at build time by gen-filter.c into filter-bpf.h
 * (classic BPF), which filter-prebuilt.c hands to each pool: neither a pool
 * nor a run pays libseccomp's 0.15–0.3 ms, and a run only pays the load (one
 * seccomp(2) call in the target). Default: allow. Denied calls fail with EPERM (clone3 with ENOSYS,
 * so libc falls back to clone, whose flags we can inspect); a foreign syscall ABI (i386 via int
 * 0x80, x32) kills the process. The list and the reason for each entry are in docs/security.md;
 * keep them in step. */
#include "internal.h"
#include "util.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Calls a submission never needs: each is a way out of the sandbox, into the
 * kernel's rarer code, or at other processes. */
static const int denied[] = {
    /* mounts and namespaces: the filesystem view and the isolation stay as built */
    SCMP_SYS(mount),
    SCMP_SYS(umount2),
    SCMP_SYS(pivot_root),
    SCMP_SYS(chroot),
    SCMP_SYS(unshare),
    SCMP_SYS(setns),
#ifdef __NR_open_tree
    __NR_open_tree,
    __NR_move_mount,
    __NR_fsopen,
    __NR_fsconfig,
    __NR_fsmount,
    __NR_fspick,
#endif
#ifdef __NR_mount_setattr
    __NR_mount_setattr,
#endif
    /* other processes' memory and files */
    SCMP_SYS(ptrace),
    SCMP_SYS(process_vm_readv),
    SCMP_SYS(process_vm_writev),
    SCMP_SYS(kcmp),
#ifdef __NR_pidfd_getfd
    __NR_pidfd_getfd,
#endif
    /* the kernel itself */
    SCMP_SYS(kexec_load),
    SCMP_SYS(kexec_file_load),
    SCMP_SYS(reboot),
    SCMP_SYS(init_module),
    SCMP_SYS(finit_module),
    SCMP_SYS(delete_module),
    SCMP_SYS(bpf),
    SCMP_SYS(perf_event_open),
    SCMP_SYS(userfaultfd),
    SCMP_SYS(acct),
    SCMP_SYS(swapon),
    SCMP_SYS(swapoff),
    SCMP_SYS(syslog),
    SCMP_SYS(quotactl),
    SCMP_SYS(lookup_dcookie),
    SCMP_SYS(uselib),
    SCMP_SYS(ustat),
    SCMP_SYS(sysfs),
    SCMP_SYS(_sysctl),
    SCMP_SYS(vhangup),
    SCMP_SYS(iopl),
    SCMP_SYS(ioperm),
    SCMP_SYS(nfsservctl),
    SCMP_SYS(fanotify_init),
    /* keyrings are shared by uid across runs (isolate's gap) */
    SCMP_SYS(add_key),
    SCMP_SYS(request_key),
    SCMP_SYS(keyctl),
    /* io_uring bypasses this filter for the calls it performs */
    SCMP_SYS(io_uring_setup),
    SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register),
    /* file handles escape any mount view */
    SCMP_SYS(open_by_handle_at),
    SCMP_SYS(name_to_handle_at),
    /* the clocks are the host's */
    SCMP_SYS(settimeofday),
    SCMP_SYS(clock_settime),
    SCMP_SYS(clock_adjtime),
    SCMP_SYS(adjtimex),
    SCMP_SYS(sethostname),
    SCMP_SYS(setdomainname),
};

/* Address families a program may open: local, IPv4/6 (in an empty network
 * namespace) and netlink (to learn there is no network). Everything else —
 * AF_VSOCK above all (a VM's host agents listen there), AF_PACKET, AF_ALG,
 * AF_KEY, Bluetooth, RDS, TIPC... — is refused. */
static bool family_allowed(int af)
{
    return af == AF_UNIX || af == AF_INET || af == AF_INET6 || af == AF_NETLINK;
    /* (AF_NETLINK is 16, the last one below AF_PACKET.) */
}

int sbx_filter_compile(struct sbx_filter *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return sbx_error(err, errlen, -ENOMEM, "seccomp_init failed");
    int r = 0;
    /* Only the native ABI: i386 (int 0x80) and x32 calls kill the process. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    /* A binary tree over syscall numbers: every call the program makes pays
     * for the filter, so keep the path short. */
    if (r == 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    for (size_t i = 0; r == 0 && i < sizeof denied / sizeof *denied; i++)
        if (denied[i] >= 0)
            r = seccomp_rule_add(ctx, eperm, denied[i], 0);
    /* clone3's flags live in memory the filter cannot read: make libc fall back. */
    if (r == 0)
        r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    /* clone with any namespace flag */
    static const unsigned long ns_flags[] = {CLONE_NEWNS,     CLONE_NEWUTS, CLONE_NEWIPC,
                                             CLONE_NEWUSER,   CLONE_NEWPID, CLONE_NEWNET,
                                             CLONE_NEWCGROUP, CLONE_NEWTIME};
    for (size_t i = 0; r == 0 && i < sizeof ns_flags / sizeof *ns_flags; i++)
        r = seccomp_rule_add(ctx, eperm, SCMP_SYS(clone), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
    /* ioctl: faking terminal input (TIOCSTI; this host allows it), the console
     * (TIOCLINUX) and line disciplines (TIOCSETD, an old source of kernel bugs).
     * The command is 32 bits; compare only those. */
    static const unsigned long ioctls[] = {TIOCSTI, TIOCLINUX, TIOCSETD};
    for (size_t i = 0; r == 0 && i < sizeof ioctls / sizeof *ioctls; i++)
        r = seccomp_rule_add(ctx, eperm, SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, ioctls[i]));
    /* personality: the flags that weaken the address space for an exploit
     * (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, ADDR_COMPAT_LAYOUT,
     * ADDR_LIMIT_32BIT, ADDR_LIMIT_3GB). libseccomp cannot compare one argument
     * twice, so the query value 0xffffffff (all bits) is refused as well. */
    static const unsigned long pers_bits[] = {0x0040000, 0x0400000, 0x0100000,
                                              0x0200000, 0x0800000, 0x8000000};
    for (size_t i = 0; r == 0 && i < sizeof pers_bits / sizeof *pers_bits; i++)
        r = seccomp_rule_add(ctx, eperm, SCMP_SYS(personality), 1,
                             SCMP_A0(SCMP_CMP_MASKED_EQ, pers_bits[i], pers_bits[i]));
    /* socket families: everything from AF_PACKET (17) up is refused with one
     * comparison (AF_VSOCK 40, AF_ALG 38, AF_PACKET, Bluetooth, RDS, TIPC...),
     * the few below it one by one. socketpair only works for AF_UNIX anyway. */
    for (int af = 0; r == 0 && af < AF_PACKET; af++)
        if (!family_allowed(af))
            r = seccomp_rule_add(ctx, eperm, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, af));
    if (r == 0)
        r = seccomp_rule_add(ctx, eperm, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_GE, AF_PACKET));
    if (r < 0) {
        seccomp_release(ctx);
        return sbx_error(err, errlen, r, "building the seccomp filter: %s", strerror(-r));
    }
    /* Export as BPF through a memfd (libseccomp 2.5 has no export-to-memory). */
    _cleanup_close_ int mfd = memfd_create("sandbox-filter", MFD_CLOEXEC);
    if (mfd < 0) {
        seccomp_release(ctx);
        return sbx_error(err, errlen, -errno, "memfd_create: %s", strerror(errno));
    }
    r = seccomp_export_bpf(ctx, mfd);
    seccomp_release(ctx);
    if (r < 0)
        return sbx_error(err, errlen, r, "seccomp_export_bpf: %s", strerror(-r));
    off_t size = lseek(mfd, 0, SEEK_END);
    if (size <= 0 || size % sizeof(struct sock_filter) != 0 || size > 65536 * 8)
        return sbx_error(err, errlen, -EINVAL, "exported filter has a bad size %lld",
                         (long long)size);
    struct sock_filter *ins = malloc((size_t)size);
    if (!ins)
        return -ENOMEM;
    if (pread(mfd, ins, (size_t)size, 0) != size) {
        free(ins);
        return sbx_error(err, errlen, -EIO, "reading the exported filter failed");
    }
    f->prog.len = (unsigned short)(size / sizeof(struct sock_filter));
    f->prog.filter = ins;
    return 0;
}

void sbx_filter_free(struct sbx_filter *f)
{
    free(f->prog.filter);
    f->prog.filter = NULL;
    f->prog.len = 0;
}
