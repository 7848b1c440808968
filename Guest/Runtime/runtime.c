// The C runtime Embedded Swift needs from a freestanding kernel: memory
// primitives and a heap. The heap is a segregated free list over a fixed
// region in .bss; exhausting it returns NULL (Swift then traps in the
// allocation path, the kernel's "out of heap" bugcheck).
#include <stddef.h>
#include <stdint.h>

// String instructions: fast on the CPU (ERMS), and in kvm-pvm's emulator,
// which runs kernel code, one instruction instead of a loop of them.
void *memset(void *dst, int value, size_t n) {
  void *d = dst;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(value) : "memory");
  return dst;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
  void *d = dst;
  const void *s = src;
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d == s || n == 0) return dst;
  if (d < s || d >= s + n) return memcpy(dst, src, n);
  while (n--) d[n] = s[n];
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < n; i++) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

size_t strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

// Heap: blocks carry a 16-byte header naming their size class. Classes are
// powers of two from 32 bytes to 1 MiB; a freed block goes on its class's list.
#define HEAP_SIZE (1u << 20)
#define MIN_SHIFT 5
#define MAX_SHIFT 20
static _Alignas(4096) unsigned char heap[HEAP_SIZE];
static size_t heap_used;
static void *free_lists[MAX_SHIFT + 1];

struct block_header { uint64_t shift; uint64_t alignment_pad; };

static unsigned class_shift(size_t size) {
  unsigned shift = MIN_SHIFT;
  while (shift <= MAX_SHIFT && ((size_t)1 << shift) < size) shift++;
  return shift;
}

static void *heap_allocate(size_t size) {
  unsigned shift = class_shift(size + sizeof(struct block_header));
  if (shift > MAX_SHIFT) return NULL;
  if (free_lists[shift]) {
    struct block_header *h = free_lists[shift];
    free_lists[shift] = *(void **)(h + 1);
    return h + 1;
  }
  size_t block = (size_t)1 << shift;
  // Blocks are aligned to min(block, 4096) so aligned requests come out aligned.
  size_t align = block < 4096 ? block : 4096;
  size_t start = (heap_used + align - 1) & ~(align - 1);
  if (start + block > HEAP_SIZE) return NULL;
  heap_used = start + block;
  struct block_header *h = (struct block_header *)(heap + start);
  h->shift = shift;
  return h + 1;
}

// Over-aligned requests get a block with room to slide the payload up; a
// second header just below the aligned payload records how far it slid.
#define SLID_FLAG (1ull << 63)

int posix_memalign(void **out, size_t alignment, size_t size) {
  if (alignment <= 16) {
    void *p = heap_allocate(size);
    if (!p) return 12; // ENOMEM
    *out = p;
    return 0;
  }
  unsigned char *raw = heap_allocate(size + alignment + sizeof(struct block_header));
  if (!raw) return 12;
  uintptr_t aligned = ((uintptr_t)raw + sizeof(struct block_header) + alignment - 1) & ~(uintptr_t)(alignment - 1);
  struct block_header *slid = (struct block_header *)aligned - 1;
  slid->shift = SLID_FLAG | (uint64_t)(aligned - (uintptr_t)raw);
  *out = (void *)aligned;
  return 0;
}

void *malloc(size_t size) { return heap_allocate(size); }

void free(void *p) {
  if (!p) return;
  struct block_header *h = (struct block_header *)p - 1;
  if (h->shift & SLID_FLAG) {
    p = (unsigned char *)p - (h->shift & ~SLID_FLAG);
    h = (struct block_header *)p - 1;
  }
  unsigned shift = (unsigned)h->shift;
  *(void **)p = free_lists[shift];
  free_lists[shift] = h;
}

size_t mmlab_heap_used(void) { return heap_used; }

// Deterministic: the guest's randomness comes from scenario seeds, not here.
void arc4random_buf(void *buf, size_t n) {
  static uint64_t state = 0x9E3779B97F4A7C15ull;
  unsigned char *b = buf;
  for (size_t i = 0; i < n; i++) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    b[i] = (unsigned char)state;
  }
}

extern void guest_console_putchar(uint8_t c);
int putchar(int c) {
  guest_console_putchar((uint8_t)c);
  return c;
}
