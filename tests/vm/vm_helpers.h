/* vm_helpers.h: small helpers for test programs that run inside the hil VM
 * bench (tests/vm/run.sh). Header-only, C99, Linux; every function is static
 * so including it in several files is fine.
 *
 *   int hilvm_link_add(const char *name, const char *kind)
 *       Creates a network interface of an rtnetlink kind ("vcan", "vxcan",
 *       ...) with RTM_NEWLINK. 0, or -errno (-EEXIST when it exists).
 *   int hilvm_link_delete(const char *name)
 *       Removes it (RTM_DELLINK). 0 or -errno.
 *   int hilvm_link_set_up(const char *name, int up)
 *       Sets or clears IFF_UP. 0 or -errno.
 *   int hilvm_vcan_create(const char *name)
 *       Makes sure a virtual CAN interface NAME exists and is up. Its MTU is
 *       CANFD_MTU, so it carries CAN FD frames. 0 or -errno.
 *
 * Why: the VM's /init creates vcan0 with busybox "ip link add ... type vcan"
 * (which works with Debian's busybox-static 1.35), but a test that needs
 * more virtual interfaces, or a busybox built without that, creates them
 * itself with these. They need CAP_NET_ADMIN (the VM runs tests as root).
 */
#ifndef HILVM_VM_HELPERS_H
#define HILVM_VM_HELPERS_H

#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#define HILVM__NL_TIMEOUT_MS 2000

struct hilvm__nl_req {
    struct nlmsghdr nh;
    struct ifinfomsg ifi;
    char attrs[256];
};

static struct rtattr *hilvm__nl_attr(struct hilvm__nl_req *r, unsigned short type,
                                     const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)&r->nh + NLMSG_ALIGN(r->nh.nlmsg_len));
    size_t need = RTA_SPACE(len);
    if (NLMSG_ALIGN(r->nh.nlmsg_len) + need > sizeof *r) return NULL;
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(a), data, len);
    r->nh.nlmsg_len = (unsigned)(NLMSG_ALIGN(r->nh.nlmsg_len) + need);
    return a;
}

/* Sends one request and waits (poll, bounded) for the kernel's ack. */
static int hilvm__nl_call(struct hilvm__nl_req *r)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct sockaddr_nl kernel;
    memset(&kernel, 0, sizeof kernel);
    kernel.nl_family = AF_NETLINK;
    r->nh.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->nh.nlmsg_seq = 1;
    int rc = -EIO;
    if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        rc = -errno;
        goto out;
    }
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        int n = poll(&p, 1, HILVM__NL_TIMEOUT_MS);
        if (n == 0) { rc = -ETIMEDOUT; goto out; }
        if (n < 0) { if (errno == EINTR) continue; rc = -errno; goto out; }
        union { struct nlmsghdr nh; char buf[4096]; } ans;
        ssize_t got = recv(fd, &ans, sizeof ans, 0);
        if (got < 0) { if (errno == EINTR) continue; rc = -errno; goto out; }
        for (struct nlmsghdr *h = &ans.nh; NLMSG_OK(h, (unsigned)got); h = NLMSG_NEXT(h, got)) {
            if (h->nlmsg_seq != r->nh.nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = (const struct nlmsgerr *)NLMSG_DATA(h);
                rc = e->error; /* 0 is the ack, negative an errno */
                goto out;
            }
        }
    }
out:
    close(fd);
    return rc;
}

static void hilvm__nl_init(struct hilvm__nl_req *r, unsigned short type, unsigned short flags)
{
    memset(r, 0, sizeof *r);
    r->nh.nlmsg_len = NLMSG_LENGTH(sizeof r->ifi);
    r->nh.nlmsg_type = type;
    r->nh.nlmsg_flags = flags;
    r->ifi.ifi_family = AF_UNSPEC;
}

static int hilvm_link_add(const char *name, const char *kind)
{
    struct hilvm__nl_req r;
    if (!name || strlen(name) >= IFNAMSIZ || !kind) return -EINVAL;
    hilvm__nl_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    if (!hilvm__nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1)) return -ENOSPC;
    struct rtattr *info = hilvm__nl_attr(&r, IFLA_LINKINFO, NULL, 0);
    if (!info || !hilvm__nl_attr(&r, IFLA_INFO_KIND, kind, strlen(kind))) return -ENOSPC;
    info->rta_len = (unsigned short)((char *)&r.nh + r.nh.nlmsg_len - (char *)info);
    return hilvm__nl_call(&r);
}

static int hilvm_link_delete(const char *name)
{
    struct hilvm__nl_req r;
    if (!name || strlen(name) >= IFNAMSIZ) return -EINVAL;
    hilvm__nl_init(&r, RTM_DELLINK, 0);
    if (!hilvm__nl_attr(&r, IFLA_IFNAME, name, strlen(name) + 1)) return -ENOSPC;
    return hilvm__nl_call(&r);
}

static int hilvm_link_set_up(const char *name, int up)
{
    struct ifreq ifr;
    int rc = 0;
    if (!name || strlen(name) >= IFNAMSIZ) return -EINVAL;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, name);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        rc = -errno;
    } else {
        if (up) ifr.ifr_flags |= IFF_UP; else ifr.ifr_flags &= ~IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) rc = -errno;
    }
    close(fd);
    return rc;
}

static int hilvm_vcan_create(const char *name)
{
    int rc = hilvm_link_add(name, "vcan");
    if (rc != 0 && rc != -EEXIST) return rc;
    return hilvm_link_set_up(name, 1);
}

#endif /* HILVM_VM_HELPERS_H */
