# SPDX-License-Identifier: GPL-2.0
# virtio-fpr: build the module against a kernel, and the project targets.
KVER ?= $(shell uname -r)
KDIR ?= /lib/modules/$(KVER)/build
PWD := $(shell pwd)

.PHONY: all modules clean check demo lint
all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(PWD)/src modules

clean:
	$(MAKE) -C $(KDIR) M=$(PWD)/src clean

check:
	tests/run-all.sh

demo:
	tests/demo.sh

lint:
	scripts/lint.sh
