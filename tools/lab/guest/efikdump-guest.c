/*
 * efikdump-guest: the 1st kernel's side of the lab, built static (gcc -static).
 *
 *   efikdump-guest arm [ZONE]
 *     The kdump service: reads the crash region and System RAM from /proc/iomem, the VMCOREINFO
 *     note's address from /sys/kernel/vmcoreinfo and a copy of the note through /proc/kcore, the
 *     boot nonce the loader put on the command line (efikdump.boot=N), and writes them as one
 *     EFI variable (EfikdumpHandoff) through efivarfs with ONE write() of attributes + data, or,
 *     given ZONE (efi-warm-reserved-memory), into the zone's first page through /dev/mem.
 *
 *   efikdump-guest pattern MIB SEED DEVICE
 *     Fills MIB MiB of locked anonymous memory with self-identifying seeded pages, writes their
 *     page frame numbers (from /proc/self/pagemap) to DEVICE at offset 0 as the truth, prints one
 *     line, creates /run/pattern.done and sleeps forever (the memory must stay allocated).
 *
 * Every result is one line "efikdump-guest: <event> key=value ..." on stdout (the console).
 * The record layout is the loader's (tools/lab/loader/loader.c, validate_handoff).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <elf.h>

#define HANDOFF_MAGIC 0x48444B45U
#define HANDOFF_FIXED 88
#define MAX_RAM 128
#define VAR_PATH "/sys/firmware/efi/efivars/EfikdumpHandoff-5b4ee3e4-6f1f-4c5d-9a3b-0e1d6b7a2144"
#define PAGE 4096
#define PATTERN_MAGIC 0x3154544150444b45ULL /* "EKDPATT1" */
#define PFN_MAGIC 0x31304e4650444b45ULL     /* "EKDPFN01" */

static void die(const char *what) {
	printf("efikdump-guest: error step=%s errno=%d (%s)\n", what, errno, strerror(errno));
	fflush(stdout);
	exit(1);
}

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
	uint32_t c = 0xffffffffU;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320U & (0U - (c & 1)));
	}
	return ~c;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Reads `len` bytes at physical `paddr` through /proc/kcore (a KCORE_RAM PT_LOAD has p_paddr set). */
static int read_phys_kcore(uint64_t paddr, uint8_t *out, size_t len) {
	int fd = open("/proc/kcore", O_RDONLY);
	if (fd < 0) return -1;
	Elf64_Ehdr eh;
	if (pread(fd, &eh, sizeof eh, 0) != sizeof eh) { close(fd); return -1; }
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof ph, eh.e_phoff + (off_t)i * eh.e_phentsize) != sizeof ph) break;
		if (ph.p_type != PT_LOAD || ph.p_paddr == (Elf64_Addr)-1) continue;
		if (paddr >= ph.p_paddr && paddr + len <= ph.p_paddr + ph.p_memsz) {
			ssize_t r = pread(fd, out, len, ph.p_offset + (paddr - ph.p_paddr));
			close(fd);
			return r == (ssize_t)len ? 0 : -1;
		}
	}
	close(fd);
	errno = ENOENT;
	return -1;
}

/* From /proc/kcore's headers: the direct map's offset (KCORE_RAM: p_vaddr - p_paddr) and the kernel image (KCORE_TEXT). */
static int kcore_layout(uint64_t *page_offset, uint64_t *text_vaddr, uint64_t *text_paddr, uint64_t *text_size) {
	int fd = open("/proc/kcore", O_RDONLY);
	if (fd < 0) return -1;
	Elf64_Ehdr eh;
	*page_offset = *text_vaddr = *text_paddr = *text_size = 0;
	if (pread(fd, &eh, sizeof eh, 0) != sizeof eh) { close(fd); return -1; }
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof ph, eh.e_phoff + (off_t)i * eh.e_phentsize) != sizeof ph) break;
		if (ph.p_type != PT_LOAD || ph.p_paddr == (Elf64_Addr)-1) continue;
		if (ph.p_vaddr >= 0xffffffff80000000ULL) {
			if (!*text_vaddr) { *text_vaddr = ph.p_vaddr; *text_paddr = ph.p_paddr; *text_size = ph.p_memsz; }
		} else if (!*page_offset) *page_offset = ph.p_vaddr - ph.p_paddr;
	}
	close(fd);
	return *page_offset ? 0 : -1;
}

static uint64_t boot_nonce(void) {
	char buf[4096] = { 0 };
	FILE *f = fopen("/proc/cmdline", "r");
	if (!f) die("cmdline");
	if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
	fclose(f);
	char *p = strstr(buf, "efikdump.boot=");
	return p ? strtoull(p + 14, NULL, 10) : 0;
}

static int arm(uint64_t zone) {
	uint64_t ram[MAX_RAM][2], crash_start = 0, crash_end = 0;
	unsigned nr = 0;
	char line[256];
	FILE *f = fopen("/proc/iomem", "r");
	if (!f) die("iomem");
	while (fgets(line, sizeof line, f)) {
		uint64_t s, e;
		if (sscanf(line, " %" SCNx64 "-%" SCNx64, &s, &e) != 2) continue;
		if (line[0] != ' ' && strstr(line, ": System RAM") && nr < MAX_RAM) {
			s &= ~(uint64_t)(PAGE - 1);
			e = (e + 1 + PAGE - 1) & ~(uint64_t)(PAGE - 1);
			if (nr && ram[nr - 1][1] == s) ram[nr - 1][1] = e;
			else { ram[nr][0] = s; ram[nr][1] = e; nr++; }
		}
		if (strstr(line, ": Crash kernel")) { crash_start = s; crash_end = e + 1; }
	}
	fclose(f);
	if (!crash_end) { printf("efikdump-guest: error step=arm reason=no-crash-kernel-region\n"); return 1; }
	if (!nr) { printf("efikdump-guest: error step=arm reason=no-system-ram (run as root)\n"); return 1; }

	uint64_t vmci_paddr = 0;
	unsigned vmci_max = 0;
	f = fopen("/sys/kernel/vmcoreinfo", "r");
	if (!f || fscanf(f, "%" SCNx64 " %x", &vmci_paddr, &vmci_max) != 2) die("vmcoreinfo");
	fclose(f);
	if (vmci_max < 24 || vmci_max > 8192) vmci_max = 8192;
	uint8_t *note = calloc(1, vmci_max);
	if (read_phys_kcore(vmci_paddr, note, vmci_max) != 0) die("kcore");
	uint32_t namesz, descsz;
	memcpy(&namesz, note, 4);
	memcpy(&descsz, note + 4, 4);
	unsigned vmci_size = 12 + ((namesz + 3) & ~3U) + ((descsz + 3) & ~3U);
	if (namesz != 11 || vmci_size > vmci_max) { printf("efikdump-guest: error step=arm reason=bad-vmcoreinfo-note namesz=%u descsz=%u\n", namesz, descsz); return 1; }

	uint64_t page_offset, text_vaddr, text_paddr, text_size;
	if (kcore_layout(&page_offset, &text_vaddr, &text_paddr, &text_size) != 0) die("kcore-layout");
	size_t size = HANDOFF_FIXED + 16 * nr + vmci_size;
	uint8_t *rec = calloc(1, 4 + size);
	uint8_t *r = rec + 4; /* efivarfs: 4 attribute bytes, then the data, in one write() */
	put32(rec, 0x7);      /* NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS */
	put32(r, HANDOFF_MAGIC);
	put32(r + 4, 1);
	put32(r + 8, size);
	put64(r + 16, boot_nonce());
	put64(r + 24, crash_start);
	put64(r + 32, crash_end);
	put64(r + 40, vmci_paddr);
	put32(r + 48, vmci_size);
	put32(r + 52, nr);
	put64(r + 56, page_offset);
	put64(r + 64, text_vaddr);
	put64(r + 72, text_paddr);
	put64(r + 80, text_size);
	for (unsigned i = 0; i < nr; i++) { put64(r + HANDOFF_FIXED + 16 * i, ram[i][0]); put64(r + HANDOFF_FIXED + 16 * i + 8, ram[i][1]); }
	memcpy(r + HANDOFF_FIXED + 16 * nr, note, vmci_size);
	put32(r + 12, crc32_ieee(r, size));

	const char *transport = "efivarfs";
	if (zone) {
		/* efi-warm-reserved-memory: the record goes to the first page of the loader's zone. */
		transport = "devmem";
		int fd = open("/dev/mem", O_RDWR | O_SYNC);
		if (fd < 0) die("open-dev-mem");
		if (pwrite(fd, r, size, zone) != (ssize_t)size) die("write-dev-mem");
		uint8_t *check = calloc(1, size);
		if (pread(fd, check, size, zone) != (ssize_t)size || memcmp(check, r, size)) die("read-back-dev-mem");
		close(fd);
	} else {
		/* An existing variable is immutable in efivarfs unless its GUID is known: remove it first. */
		unlink(VAR_PATH);
		int fd = open(VAR_PATH, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0) die("create-variable");
		if (write(fd, rec, 4 + size) != (ssize_t)(4 + size)) die("write-variable");
		close(fd);
	}
	printf("efikdump-guest: armed transport=%s crash-start=0x%" PRIx64 " crash-end=0x%" PRIx64 " ram-ranges=%u vmcoreinfo=0x%" PRIx64 " vmcoreinfo-bytes=%u record-bytes=%zu nonce=%" PRIu64 " page-offset=0x%" PRIx64 " text=0x%" PRIx64 "@0x%" PRIx64 "+0x%" PRIx64 "\n",
	       transport, crash_start, crash_end, nr, vmci_paddr, vmci_size, size, boot_nonce(), page_offset, text_vaddr, text_paddr, text_size);
	return 0;
}

/* The page body generator; apps/cli/src/lab/pattern.ts computes the same bytes. */
static void fill_page(uint32_t *w, uint64_t seed, uint64_t index) {
	uint64_t *h = (uint64_t *)w;
	h[0] = PATTERN_MAGIC;
	h[1] = seed;
	h[2] = index;
	uint32_t x = (uint32_t)(seed * 0x9e3779b9U) ^ (uint32_t)(index * 0x85ebca6bU) ^ 0x2545f491U;
	if (!x) x = 1;
	for (int i = 6; i < PAGE / 4; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		w[i] = x;
	}
}

static int pattern(unsigned mib, uint64_t seed, const char *dev) {
	size_t pages = (size_t)mib * 256, bytes = pages * PAGE;
	uint8_t *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED) die("mmap");
	if (mlock(mem, bytes) != 0) die("mlock");
	for (size_t i = 0; i < pages; i++) fill_page((uint32_t *)(mem + i * PAGE), seed, i);
	size_t out_bytes = 16 + 8 * pages;
	uint8_t *out = calloc(1, (out_bytes + 511) & ~(size_t)511);
	put64(out, PFN_MAGIC);
	put32(out + 8, pages);
	put32(out + 12, (uint32_t)seed);
	int pm = open("/proc/self/pagemap", O_RDONLY);
	if (pm < 0) die("pagemap");
	size_t present = 0;
	for (size_t i = 0; i < pages; i++) {
		uint64_t e;
		if (pread(pm, &e, 8, ((uintptr_t)(mem + i * PAGE) / PAGE) * 8) != 8) die("pagemap-read");
		uint64_t pfn = (e >> 63) & 1 ? e & ((1ULL << 55) - 1) : 0;
		if (pfn) present++;
		put64(out + 16 + 8 * i, pfn);
	}
	close(pm);
	int fd = open(dev, O_WRONLY | O_SYNC);
	if (fd < 0) die("open-device");
	size_t padded = (out_bytes + 511) & ~(size_t)511;
	if (write(fd, out, padded) != (ssize_t)padded) die("write-device");
	fsync(fd);
	close(fd);
	printf("efikdump-guest: pattern pages=%zu present=%zu seed=%" PRIu64 " device=%s\n", pages, present, seed, dev);
	fflush(stdout);
	close(open("/run/pattern.done", O_WRONLY | O_CREAT, 0644));
	for (;;) pause();
	return 0;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "arm")) return arm(argc >= 3 ? strtoull(argv[2], NULL, 0) : 0);
	if (argc >= 5 && !strcmp(argv[1], "pattern")) return pattern(atoi(argv[2]), strtoull(argv[3], NULL, 10), argv[4]);
	fprintf(stderr, "usage: efikdump-guest arm [ZONE] | pattern MIB SEED DEVICE\n");
	return 2;
}
