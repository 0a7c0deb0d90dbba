/* SPDX-License-Identifier: MIT */
/*
 * The PCI family (include/ringkit/pci.h): config space through the sysfs
 * `config` file ringd passed as the provider handle, BARs through the
 * sysfs resourceN file ringd hands out on request (RK_DEXT_PCI_MAP_BAR).
 * Config space is little-endian; accesses are single pread/pwrite calls of
 * the access size, which the kernel turns into one config cycle of that
 * size.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "driver-private.h"
#include "ipc/proto.h"
#include "ringkit/pci.h"
#include "shared/macro.h"

#define CONFIG_MAX 4096
#define IORESOURCE_IO_FLAG 0x100ull

struct rk_pci_bar {
        int fd;
        void *addr;    /* memory BARs */
        size_t map_len;
        uint64_t size;
        bool io;
};

static int config_fd(rk_driver *d, uint32_t offset, size_t size, int *ret) {
        int fd = rk_driver_get_provider_handle(d);

        if (!d)
                return -EINVAL;
        if (fd < 0)
                return -ENODEV;
        if (offset % size || offset + size > CONFIG_MAX)
                return -EINVAL;
        *ret = fd;
        return 0;
}

static int config_read(rk_driver *d, uint32_t offset, void *buf, size_t size) {
        ssize_t n;
        int fd, r = config_fd(d, offset, size, &fd);

        if (r < 0)
                return r;
        n = pread(fd, buf, size, offset);
        if (n < 0)
                return -errno;
        return (size_t) n == size ? 0 : n == 0 ? -ERANGE : -EIO;
}

static int config_write(rk_driver *d, uint32_t offset, const void *buf, size_t size) {
        ssize_t n;
        int fd, r = config_fd(d, offset, size, &fd);

        if (r < 0)
                return r;
        if (!rk_pci_config_writable(d))
                return -EBUSY;
        n = pwrite(fd, buf, size, offset);
        if (n < 0)
                return -errno;
        return (size_t) n == size ? 0 : n == 0 ? -ERANGE : -EIO;
}

bool rk_pci_config_writable(rk_driver *d) {
        int fd = rk_driver_get_provider_handle(d);
        int fl = fd >= 0 ? fcntl(fd, F_GETFL) : -1;
        return fl >= 0 && (fl & O_ACCMODE) == O_RDWR;
}

int rk_pci_config_read8(rk_driver *d, uint32_t offset, uint8_t *ret) {
        return ret ? config_read(d, offset, ret, 1) : -EINVAL;
}

int rk_pci_config_read16(rk_driver *d, uint32_t offset, uint16_t *ret) {
        uint16_t v;
        int r;

        if (!ret)
                return -EINVAL;
        r = config_read(d, offset, &v, 2);
        if (r == 0)
                *ret = le16toh(v);
        return r;
}

int rk_pci_config_read32(rk_driver *d, uint32_t offset, uint32_t *ret) {
        uint32_t v;
        int r;

        if (!ret)
                return -EINVAL;
        r = config_read(d, offset, &v, 4);
        if (r == 0)
                *ret = le32toh(v);
        return r;
}

int rk_pci_config_write8(rk_driver *d, uint32_t offset, uint8_t value) {
        return config_write(d, offset, &value, 1);
}

int rk_pci_config_write16(rk_driver *d, uint32_t offset, uint16_t value) {
        uint16_t v = htole16(value);
        return config_write(d, offset, &v, 2);
}

int rk_pci_config_write32(rk_driver *d, uint32_t offset, uint32_t value) {
        uint32_t v = htole32(value);
        return config_write(d, offset, &v, 4);
}

int rk_pci_bar_map(rk_driver *d, unsigned bar, rk_pci_bar **ret) {
        _cleanup_(rk_value_unrefp) rk_value *req = NULL, *reply = NULL;
        _cleanup_(closep) int fd = -EBADF;
        uint64_t size = 0, flags = 0;
        long page = sysconf(_SC_PAGESIZE);
        rk_pci_bar *b;
        int r;

        if (!d || bar > 5 || !ret)
                return -EINVAL;
        if ((r = rk_value_new_dict(&req)) < 0 || (r = rk_dict_set_integer(req, "bar", bar, false)) < 0)
                return r;
        r = rk_driver_request(d, RK_DEXT_PCI_MAP_BAR, req, &reply, &fd);
        if (r < 0)
                return r;
        if (fd < 0 || !rk_dict_get_u64(reply, "size", &size) || size == 0 || size > SIZE_MAX / 2 ||
            !rk_dict_get_u64(reply, "flags", &flags))
                return -EBADMSG;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->size = size;
        b->io = flags & IORESOURCE_IO_FLAG;
        if (!b->io) {
                b->map_len = ((size_t) size + (size_t) page - 1) & ~((size_t) page - 1);
                b->addr = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (b->addr == MAP_FAILED) {
                        r = -errno;
                        free(b);
                        return r;
                }
        }
        b->fd = TAKE_FD(fd);
        *ret = b;
        return 0;
}

void *rk_pci_bar_get_address(rk_pci_bar *b) {
        return b ? b->addr : NULL;
}

uint64_t rk_pci_bar_get_size(rk_pci_bar *b) {
        return b ? b->size : 0;
}

bool rk_pci_bar_is_io(rk_pci_bar *b) {
        return b && b->io;
}

int rk_pci_bar_read32(rk_pci_bar *b, uint64_t offset, uint32_t *ret) {
        uint32_t v;

        if (!b || !ret || offset % 4 || offset + 4 > b->size)
                return -EINVAL;
        if (b->addr) {
                *ret = le32toh(*(volatile uint32_t *) ((uint8_t *) b->addr + offset));
                return 0;
        }
        if (pread(b->fd, &v, 4, (off_t) offset) != 4)
                return -EIO;
        *ret = le32toh(v);
        return 0;
}

int rk_pci_bar_write32(rk_pci_bar *b, uint64_t offset, uint32_t value) {
        uint32_t v = htole32(value);

        if (!b || offset % 4 || offset + 4 > b->size)
                return -EINVAL;
        if (b->addr) {
                *(volatile uint32_t *) ((uint8_t *) b->addr + offset) = v;
                return 0;
        }
        return pwrite(b->fd, &v, 4, (off_t) offset) == 4 ? 0 : -EIO;
}

void rk_pci_bar_unmap(rk_pci_bar *b) {
        if (!b)
                return;
        if (b->addr)
                munmap(b->addr, b->map_len);
        if (b->fd >= 0)
                close(b->fd);
        free(b);
}
