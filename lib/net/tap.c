/* Taps for HVM NICs: /dev/net/tun TUNSETIFF, not persistent (the tap lives
 * as long as an fd to it: QEMU's). */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include "common/util.h"
#include "net/net.h"
#include "net/net_internal.h"

int net_tap_open(const net_nic *nic, int *fd, vm_err *err)
{
    unsigned char m[6];
    if (net_mac_parse(nic->mac, m) < 0)
        return vm_err_set(err, VMERR_INVALID, "invalid MAC address \"%s\"", nic->mac);
    /* A link left under this VM's name (a killed start) is ours to replace. */
    if (net_link_del(nic->ifname, err) < 0)
        return -1;
    cleanup_close int t = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (t < 0)
        return vm_err_sys(err, errno, "cannot open /dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", nic->ifname);
    if (ioctl(t, TUNSETIFF, &ifr) < 0)
        return vm_err_sys(err, errno, "cannot create tap \"%s\"", nic->ifname);
    /* The host side's MAC starts with fe: it never becomes the bridge's
     * own address (a bridge takes its lowest port MAC) nor the guest's. */
    m[0] = 0xfe;
    if (net_link_set_mac(nic->ifname, m, err) < 0 || net_port_attach(nic, err) < 0)
        return -1;
    *fd = steal_fd(t);
    return 0;
}
