# SPDX-License-Identifier: GPL-2.0
# virtio-fpr: build and install the module, and the project's targets.
#   make [KVER=...]          build src/virtio_fpr.ko for a kernel (default: running)
#   make install             install it under updates/, the modprobe.d file,
#                            the virtio-fpr command and its man page
#   make dkms-install        register with DKMS (rebuilt on kernel upgrades)
#   make dkms-remove         undo dkms-install
#   make deb                 build ../virtio-fpr-dkms_*.deb
#   make demo / make check   QEMU demo / the tests (root, Debian; the long
#                            QEMU scenarios on one or two kernels each; under
#                            an hour on a new 2-core machine, docs/testing.md)
#   make check-all           every QEMU scenario on every kernel
#   make check-debug         the whole QEMU suite on the debug kernel (3-4 h;
#                            DEBUG_SERIES=6.12 for the 6.12 one)
#   make bench               reclaim benchmark against virtio_balloon
KVER ?= $(shell uname -r)
DEBUG_SERIES ?= 6.1
KDIR ?= /lib/modules/$(KVER)/build
TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
# The one place the version lives is debian/changelog.
VERSION := $(shell awk -F'[()]' 'NR == 1 { sub(/-[^-]*$$/, "", $$2); print $$2 }' \
	$(TOP)/debian/changelog)
DKMS_SRC := $(DESTDIR)/usr/src/virtio-fpr-$(VERSION)
MODPROBE_D := $(DESTDIR)/usr/lib/modprobe.d
SBINDIR := $(DESTDIR)/usr/sbin
MAN8DIR := $(DESTDIR)/usr/share/man/man8

.PHONY: all modules clean install uninstall install-tools uninstall-tools \
	dkms-install dkms-remove deb check check-all check-debug demo lint bench

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(TOP)/src modules

clean:
	rm -rf build/ko build/tree build/*.cpio.gz build/bench
	rm -f src/*.o src/*.ko src/*.mod src/*.mod.c src/.*.cmd \
		src/Module.symvers src/modules.order

install: modules install-tools
	$(MAKE) -C $(KDIR) M=$(TOP)/src INSTALL_MOD_DIR=updates modules_install
	install -D -m 0644 modprobe.d/virtio-fpr.conf $(MODPROBE_D)/virtio-fpr.conf
	depmod -a $(KVER)

uninstall: uninstall-tools
	rm -f /lib/modules/$(KVER)/updates/virtio_fpr.ko*
	rm -f $(MODPROBE_D)/virtio-fpr.conf
	depmod -a $(KVER)

# The status command and its man page (also installed by the package)
install-tools:
	install -D -m 0755 $(TOP)/tools/virtio-fpr $(SBINDIR)/virtio-fpr
	install -D -m 0644 $(TOP)/man/virtio-fpr.8 $(MAN8DIR)/virtio-fpr.8

uninstall-tools:
	rm -f $(SBINDIR)/virtio-fpr $(MAN8DIR)/virtio-fpr.8

dkms-install: install-tools
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/src $(DKMS_SRC)/include/virtio_fpr
	install -m 0644 $(filter-out %.mod.c,$(wildcard src/*.c)) src/*.h \
		src/Kbuild $(DKMS_SRC)/src/
	install -m 0644 include/virtio_fpr/*.h $(DKMS_SRC)/include/virtio_fpr/
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf > $(DKMS_SRC)/dkms.conf
	install -D -m 0644 modprobe.d/virtio-fpr.conf $(MODPROBE_D)/virtio-fpr.conf
	dkms add virtio-fpr/$(VERSION)
	dkms install virtio-fpr/$(VERSION) -k $(KVER)

dkms-remove: uninstall-tools
	-dkms remove virtio-fpr/$(VERSION) --all
	rm -rf $(DKMS_SRC) $(MODPROBE_D)/virtio-fpr.conf

deb:
	dpkg-buildpackage -us -uc -b

check:
	tests/run-all.sh

check-all:
	tests/run-all.sh --all

check-debug:
	tests/run-all.sh --debug $(DEBUG_SERIES)

demo:
	tests/demo.sh

lint:
	scripts/lint.sh

bench:
	tests/bench/bench.sh
