# The two entry points the README names, plus the set-up they share.
# `make demo`: build everything, boot the guest on KVM, dump its page tables
#              and print the benchmark figures.
# `make test`: build everything and run the unit and integration tests.
SWIFT ?= swift

.PHONY: setup demo test conformance

setup:
	@Scripts/setup.sh

demo: setup
	$(SWIFT) build -c release --product mmlab
	.build/release/mmlab dump-pagetables
	.build/release/mmlab bench

test: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The whole hardware conformance suite on this machine's KVM (release build).
conformance: setup
	$(SWIFT) build -c release --product mmlab
	.build/release/mmlab conformance --suite all --format junit --output .build/conformance.xml
	@grep -o '<testsuites[^>]*>' .build/conformance.xml
