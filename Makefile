# The two entry points the README names, plus the set-up they share.
# `make demo`: build everything, boot the guest on KVM, dump its page tables
#              and print the benchmark figures.
# `make test`: build everything and run the unit and integration tests.
SWIFT ?= swift

.PHONY: setup demo test conformance fuzz

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

# The in-tree fuzzer: FUZZ_CASES hostile inputs (cores, page tables, guest images, errata,
# command lines), each in bounded time, memory and output; failing inputs are saved with
# the command that reproduces them under .build/fuzz-failures.
FUZZ_CASES ?= 100000
FUZZ_SEED ?= 1
fuzz: setup
	$(SWIFT) build -c release --product mmlab
	$(SWIFT) build -c release --product mmlab-fuzz
	Scripts/fuzz-seeds.sh .build/release/mmlab .build/fuzz-seeds
	.build/release/mmlab-fuzz run --seeds .build/fuzz-seeds --mmlab .build/release/mmlab \
	  --cases $(FUZZ_CASES) --seed $(FUZZ_SEED)
