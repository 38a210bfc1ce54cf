/*
 * efikdump's boot-time loader: the RFD's "EFI stub" decision, run in real firmware.
 *
 * Normal boot: start \vmlinuz with the command line in \efikdump\cmdline.txt, plus
 * "efikdump.boot=<nonce>" (a counter kept in the NV variable EfikdumpBoot), so that the 1st
 * kernel's kdump service can stamp its handoff record with the boot it belongs to.
 *
 * Crashed boot (efi-pstore's dump-type0-* variables exist): read the handoff record the 1st
 * kernel wrote (EfikdumpHandoff), validate it, claim every conventional range at or above 1 MiB
 * outside the crash region, put the elfcorehdr, the VMCOREINFO copy and the lost-ranges note in
 * a chunk of the region that the capture kernel is not given, and start \vmlinuz as the capture
 * kernel with "nr_cpus=1 reset_devices elfcorehdr=... memmap=exactmap ...".
 *
 * Every decision is printed as one line "efikdump-loader: <event> key=value ..." on the console
 * (OVMF mirrors ConOut to the serial port); apps/cli/src/lab parses these lines.
 */
#include <efi.h>
#include <efilib.h>

#define MIB 0x100000ULL
#define PAGE 4096ULL
#define MAX_RANGES 256
#define MAX_RAM 128
#define MAX_CMDLINE 2048
#define CHUNK_BYTES (64 * 1024ULL)          /* elfcorehdr | VMCOREINFO copy | lost-ranges note */
#define VMCOREINFO_MAX 8192
#define HANDOFF_MAGIC 0x48444B45U            /* "EKDH" */
#define HANDOFF_VERSION 1
#define HANDOFF_FIXED 88

static EFI_GUID EfikdumpGuid = { 0x5b4ee3e4, 0x6f1f, 0x4c5d, { 0x9a, 0x3b, 0x0e, 0x1d, 0x6b, 0x7a, 0x21, 0x44 } };
/* LINUX_EFI_CRASH_GUID: efi-pstore's records (drivers/firmware/efi/efi-pstore.c). */
static EFI_GUID LinuxCrashGuid = { 0xcfc8fc79, 0xbe2e, 0x4ddc, { 0x97, 0xf0, 0x9f, 0x98, 0xbf, 0xe2, 0x98, 0xa0 } };

typedef struct { UINT64 start, end; } RANGE;
typedef struct { RANGE r[MAX_RANGES]; UINTN n; } RANGES;

/*
 * Design efi-warm-reserved-memory: a zone the loader reserves (EfiReservedMemoryType, so Linux
 * sees it as reserved in its memory map) at every normal boot. Page 0 holds the handoff record,
 * written by the 1st kernel through /dev/mem; ramoops (pstore/ram) owns RAMOOPS_OFFSET.. and writes
 * the panic's dmesg there: a dmesg zone with data is the crash marker.
 */
#define ZONE_BYTES (2 * MIB)
#define RAMOOPS_OFFSET 0x10000ULL
#define RAMOOPS_BYTES 0x100000ULL
#define RAMOOPS_RECORD 0x20000ULL
#define RAMOOPS_SIG 0x43474244U                /* "DBGC", struct persistent_ram_buffer */
static UINT64 ZoneBase;                          /* 0: design efi-warm-efivar */

static EFI_HANDLE Self;
static EFI_LOADED_IMAGE *SelfImage;

/* ---- small helpers ------------------------------------------------------------------------ */

static void say(CHAR16 *fmt, ...) {
	va_list args;
	va_start(args, fmt);
	Print(L"efikdump-loader: ");
	VPrint(fmt, args);
	Print(L"\r\n");
	va_end(args);
}

static UINT32 rd32(const UINT8 *p) { return p[0] | (p[1] << 8) | (p[2] << 16) | ((UINT32)p[3] << 24); }
static UINT64 rd64(const UINT8 *p) { return rd32(p) | ((UINT64)rd32(p + 4) << 32); }
static void wr16(UINT8 *p, UINT16 v) { p[0] = v; p[1] = v >> 8; }
static void wr32(UINT8 *p, UINT32 v) { wr16(p, v); wr16(p + 2, v >> 16); }
static void wr64(UINT8 *p, UINT64 v) { wr32(p, v); wr32(p + 4, v >> 32); }

static void add_range(RANGES *rs, UINT64 s, UINT64 e) {
	if (e <= s) return;
	if (rs->n && rs->r[rs->n - 1].end == s) { rs->r[rs->n - 1].end = e; return; }
	if (rs->n < MAX_RANGES) { rs->r[rs->n].start = s; rs->r[rs->n].end = e; rs->n++; }
}

/* Appends an ASCII string to a CHAR8 buffer; returns FALSE when it would not fit. */
static BOOLEAN append(CHAR8 *buf, UINTN cap, CHAR8 *s) {
	UINTN n = strlena(buf), m = strlena(s);
	if (n + m + 1 > cap) return FALSE;
	CopyMem(buf + n, s, m + 1);
	return TRUE;
}

static void hex_ascii(CHAR8 *out, UINT64 v) {
	static const char digits[] = "0123456789abcdef";
	CHAR8 tmp[17];
	int i = 16;
	tmp[i] = 0;
	do { tmp[--i] = digits[v & 15]; v >>= 4; } while (v && i > 0);
	out[0] = '0'; out[1] = 'x';
	CopyMem(out + 2, tmp + i, 17 - i);
}

static void dec_ascii(CHAR8 *out, UINT64 v) {
	CHAR8 tmp[21];
	int i = 20;
	tmp[i] = 0;
	do { tmp[--i] = '0' + (v % 10); v /= 10; } while (v && i > 0);
	CopyMem(out, tmp + i, 21 - i);
}

/* ---- files on the ESP ----------------------------------------------------------------------- */

/* Reads a whole file from the loader's own volume into a NUL-terminated pool buffer. */
static CHAR8 *read_text(CHAR16 *path) {
	EFI_FILE_HANDLE root = LibOpenRoot(SelfImage->DeviceHandle), fh;
	if (!root) return NULL;
	if (EFI_ERROR(root->Open(root, &fh, path, EFI_FILE_MODE_READ, 0))) return NULL;
	EFI_FILE_INFO *info = LibFileInfo(fh);
	if (!info) { fh->Close(fh); return NULL; }
	UINTN size = info->FileSize;
	FreePool(info);
	CHAR8 *buf = AllocateZeroPool(size + 1);
	if (buf && EFI_ERROR(fh->Read(fh, &size, buf))) { FreePool(buf); buf = NULL; }
	fh->Close(fh);
	if (buf) {
		/* One line: stop at the first newline. */
		for (UINTN i = 0; buf[i]; i++) if (buf[i] == '\n' || buf[i] == '\r') { buf[i] = 0; break; }
	}
	return buf;
}

static BOOLEAN file_exists(CHAR16 *path) {
	EFI_FILE_HANDLE root = LibOpenRoot(SelfImage->DeviceHandle), fh;
	if (!root) return FALSE;
	if (EFI_ERROR(root->Open(root, &fh, path, EFI_FILE_MODE_READ, 0))) return FALSE;
	fh->Close(fh);
	return TRUE;
}

/* ---- variables ------------------------------------------------------------------------------ */

static UINTN count_crash_records(void) {
	UINTN n = 0, cap = 512;
	CHAR16 *name = AllocateZeroPool(cap);
	EFI_GUID guid;
	for (;;) {
		UINTN size = cap;
		EFI_STATUS st = RT->GetNextVariableName(&size, name, &guid);
		if (st == EFI_BUFFER_TOO_SMALL) {
			CHAR16 *bigger = AllocateZeroPool(size);
			CopyMem(bigger, name, cap);
			FreePool(name);
			name = bigger;
			cap = size;
			continue;
		}
		if (EFI_ERROR(st)) break;
		if (CompareGuid(&guid, &LinuxCrashGuid) == 0 && StrnCmp(name, L"dump-type0-", 11) == 0) n++;
	}
	FreePool(name);
	return n;
}

/* The boot counter: read, increment, store (NV|BS). Returns the new value. */
static UINT64 next_boot_nonce(void) {
	UINT64 nonce = 0;
	UINTN size = sizeof(nonce);
	UINT32 attr;
	if (EFI_ERROR(RT->GetVariable(L"EfikdumpBoot", &EfikdumpGuid, &attr, &size, &nonce)) || size != sizeof(nonce)) nonce = 0;
	nonce++;
	RT->SetVariable(L"EfikdumpBoot", &EfikdumpGuid, EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS, sizeof(nonce), &nonce);
	return nonce;
}

static UINT64 current_boot_nonce(void) {
	UINT64 nonce = 0;
	UINTN size = sizeof(nonce);
	UINT32 attr;
	if (EFI_ERROR(RT->GetVariable(L"EfikdumpBoot", &EfikdumpGuid, &attr, &size, &nonce)) || size != sizeof(nonce)) return 0;
	return nonce;
}

/* ---- the memory map ------------------------------------------------------------------------- */

typedef struct { EFI_MEMORY_DESCRIPTOR *d; UINTN n, size; } MEMMAP;

static MEMMAP get_map(void) {
	MEMMAP m = { 0 };
	UINTN key; UINT32 ver;
	m.d = LibMemoryMap(&m.n, &key, &m.size, &ver);
	return m;
}
#define DESC(m, i) ((EFI_MEMORY_DESCRIPTOR *)((UINT8 *)(m).d + (i) * (m).size))

static BOOLEAN is_ram_type(UINT32 t) {
	return t == EfiConventionalMemory || t == EfiLoaderCode || t == EfiLoaderData || t == EfiBootServicesCode || t == EfiBootServicesData;
}

/* True when [s, e) is covered by descriptors whose types satisfy `ok`. */
static BOOLEAN covered(MEMMAP m, UINT64 s, UINT64 e, BOOLEAN (*ok)(UINT32)) {
	UINT64 at = s;
	for (BOOLEAN progress = TRUE; at < e && progress;) {
		progress = FALSE;
		for (UINTN i = 0; i < m.n; i++) {
			EFI_MEMORY_DESCRIPTOR *d = DESC(m, i);
			UINT64 ds = d->PhysicalStart, de = ds + d->NumberOfPages * PAGE;
			if (ds <= at && at < de && ok(d->Type)) { at = de; progress = TRUE; }
		}
	}
	return at >= e;
}

static BOOLEAN any_type(UINT32 t) { return t != EfiMemoryMappedIO && t != EfiMemoryMappedIOPortSpace && t < EfiMaxMemoryType; }

/* ---- the handoff record --------------------------------------------------------------------- */

typedef struct {
	UINT64 nonce, crash_start, crash_end, vmcoreinfo_paddr;
	UINT64 page_offset, text_vaddr, text_paddr, text_size;
	UINT32 vmcoreinfo_size, nr_ram;
	RANGE ram[MAX_RAM];
	UINT8 *vmcoreinfo;
} HANDOFF;

static CHAR16 *validate_handoff(UINT8 *buf, UINTN size, HANDOFF *h, MEMMAP live) {
	if (size < HANDOFF_FIXED) return L"short";
	if (rd32(buf) != HANDOFF_MAGIC) return L"bad-magic";
	if (rd32(buf + 4) != HANDOFF_VERSION) return L"bad-version";
	if (rd32(buf + 8) != size) return L"bad-size";
	UINT32 want = rd32(buf + 12), crc = 0;
	wr32(buf + 12, 0);
	BS->CalculateCrc32(buf, size, &crc);
	wr32(buf + 12, want);
	if (crc != want) return L"bad-crc";
	h->nonce = rd64(buf + 16);
	h->crash_start = rd64(buf + 24);
	h->crash_end = rd64(buf + 32);
	h->vmcoreinfo_paddr = rd64(buf + 40);
	h->vmcoreinfo_size = rd32(buf + 48);
	h->nr_ram = rd32(buf + 52);
	h->page_offset = rd64(buf + 56);
	h->text_vaddr = rd64(buf + 64);
	h->text_paddr = rd64(buf + 72);
	h->text_size = rd64(buf + 80);
	if (h->nonce != current_boot_nonce()) return L"other-boot";
	if (h->nr_ram == 0 || h->nr_ram > MAX_RAM) return L"bad-ram-count";
	if (h->page_offset < 0xffff800000000000ULL || h->page_offset % PAGE) return L"bad-page-offset";
	if (h->text_size && (h->text_vaddr < 0xffffffff80000000ULL || h->text_paddr % PAGE || h->text_size > 0x40000000ULL)) return L"bad-kernel-text";
	if (h->vmcoreinfo_size < 12 || h->vmcoreinfo_size > VMCOREINFO_MAX) return L"bad-vmcoreinfo-size";
	if ((UINT64)HANDOFF_FIXED + 16ULL * h->nr_ram + h->vmcoreinfo_size != size) return L"bad-layout";
	if (h->crash_start % MIB || h->crash_end % MIB || h->crash_end <= h->crash_start) return L"bad-crash-region";
	BOOLEAN region_in_ram = FALSE;
	for (UINT32 i = 0; i < h->nr_ram; i++) {
		h->ram[i].start = rd64(buf + HANDOFF_FIXED + 16 * i);
		h->ram[i].end = rd64(buf + HANDOFF_FIXED + 16 * i + 8);
		if (h->ram[i].start % PAGE || h->ram[i].end % PAGE || h->ram[i].end <= h->ram[i].start) return L"bad-ram-range";
		if (i && h->ram[i].start < h->ram[i - 1].end) return L"ram-ranges-unsorted";
		if (!covered(live, h->ram[i].start, h->ram[i].end, any_type)) return L"ram-outside-memory-map";
		if (h->ram[i].start <= h->crash_start && h->crash_end <= h->ram[i].end) region_in_ram = TRUE;
	}
	if (!region_in_ram) return L"crash-region-outside-ram";
	if (!covered(live, h->crash_start, h->crash_end, is_ram_type)) return L"crash-region-not-free";
	h->vmcoreinfo = buf + HANDOFF_FIXED + 16 * h->nr_ram;
	/* The copy must be one ELF note named VMCOREINFO that fits. */
	UINT32 namesz = rd32(h->vmcoreinfo), descsz = rd32(h->vmcoreinfo + 4);
	if (namesz != 11 || 12ULL + 12 + ((descsz + 3) & ~3U) > h->vmcoreinfo_size) return L"bad-vmcoreinfo-note";
	if (CompareMem(h->vmcoreinfo + 12, "VMCOREINFO", 11) != 0) return L"bad-vmcoreinfo-name";
	return NULL;
}

/* ---- claiming old memory -------------------------------------------------------------------- */

static UINT64 claimed_pages, failed_pages;

static void claim(UINT64 s, UINT64 e) {
	if (e <= s) return;
	EFI_PHYSICAL_ADDRESS a = s;
	UINT64 pages = (e - s) / PAGE;
	if (!EFI_ERROR(BS->AllocatePages(AllocateAddress, EfiLoaderData, pages, &a))) { claimed_pages += pages; return; }
	if (pages == 1) { failed_pages++; return; }
	UINT64 mid = s + (pages / 2) * PAGE;
	claim(s, mid);
	claim(mid, e);
}

/* Claims every conventional range >= 1 MiB outside [rs, re); returns the pages left over. */
static UINT64 claim_old_memory(UINT64 rs, UINT64 re) {
	UINT64 left = 0;
	for (int pass = 0; pass < 4; pass++) {
		MEMMAP m = get_map();
		left = 0;
		RANGES todo = { 0 };
		for (UINTN i = 0; i < m.n; i++) {
			EFI_MEMORY_DESCRIPTOR *d = DESC(m, i);
			if (d->Type != EfiConventionalMemory) continue;
			UINT64 s = d->PhysicalStart, e = s + d->NumberOfPages * PAGE;
			if (s < MIB) s = MIB;
			if (e <= s) continue;
			if (s < rs) add_range(&todo, s, e < rs ? e : rs);
			if (e > re) add_range(&todo, s > re ? s : re, e);
		}
		FreePool(m.d);
		for (UINTN i = 0; i < todo.n; i++) left += (todo.r[i].end - todo.r[i].start) / PAGE;
		if (!todo.n) break;
		UINT64 before = claimed_pages;
		for (UINTN i = 0; i < todo.n; i++) claim(todo.r[i].start, todo.r[i].end);
		if (claimed_pages == before) break;
	}
	return left;
}

/* ---- the capture kernel's elfcorehdr -------------------------------------------------------- */

/* Subtracts the sorted ranges `cut` from [s, e) and appends the pieces to `out`. */
static void subtract(RANGES *out, UINT64 s, UINT64 e, RANGES *cut) {
	UINT64 at = s;
	for (UINTN i = 0; i < cut->n && at < e; i++) {
		if (cut->r[i].end <= at || cut->r[i].start >= e) continue;
		add_range(out, at, cut->r[i].start > at ? cut->r[i].start : at);
		at = cut->r[i].end;
	}
	if (at < e) add_range(out, at, e);
}

static void sort_ranges(RANGES *rs) {
	for (UINTN i = 1; i < rs->n; i++)
		for (UINTN j = i; j > 0 && rs->r[j - 1].start > rs->r[j].start; j--) { RANGE t = rs->r[j]; rs->r[j] = rs->r[j - 1]; rs->r[j - 1] = t; }
	/* Merge overlaps. */
	UINTN k = 0;
	for (UINTN i = 0; i < rs->n; i++) {
		if (k && rs->r[i].start <= rs->r[k - 1].end) { if (rs->r[i].end > rs->r[k - 1].end) rs->r[k - 1].end = rs->r[i].end; }
		else rs->r[k++] = rs->r[i];
	}
	rs->n = k;
}

#define EHDR 64
#define PHDR 56

/* Writes an ELF64 ET_CORE header with PT_NOTEs (VMCOREINFO copy, lost ranges) and one PT_LOAD per kept range. */
/*
 * Writes an ELF64 ET_CORE header as kexec-tools does for x86_64: PT_NOTEs (VMCOREINFO copy, lost
 * ranges), the kernel image's PT_LOADs at their __START_KERNEL_map addresses (text, its kept pieces),
 * then one PT_LOAD per kept RAM range at its direct-map address (page_offset + paddr).
 */
static UINTN build_elfcorehdr(UINT8 *out, UINTN cap, RANGES *text, UINT64 text_delta, RANGES *loads, UINT64 page_offset,
                              UINT64 vmci_paddr, UINT64 vmci_size, UINT64 lost_paddr, UINT64 lost_size) {
	UINTN phnum = 2 + text->n + loads->n, size = EHDR + PHDR * phnum;
	if (size > cap) return 0;
	SetMem(out, size, 0);
	out[0] = 0x7f; out[1] = 'E'; out[2] = 'L'; out[3] = 'F';
	out[4] = 2; out[5] = 1; out[6] = 1;                 /* ELFCLASS64, little endian, EV_CURRENT */
	wr16(out + 16, 4);                                   /* ET_CORE */
	wr16(out + 18, 62);                                  /* EM_X86_64 */
	wr32(out + 20, 1);
	wr64(out + 32, EHDR);                                /* e_phoff */
	wr16(out + 52, EHDR);
	wr16(out + 54, PHDR);
	wr16(out + 56, phnum);
	UINT8 *p = out + EHDR;
	UINT64 notes[2][2] = { { vmci_paddr, vmci_size }, { lost_paddr, lost_size } };
	for (int i = 0; i < 2; i++, p += PHDR) {
		wr32(p, 4);                                      /* PT_NOTE */
		wr64(p + 8, notes[i][0]);
		wr64(p + 24, notes[i][0]);
		wr64(p + 32, notes[i][1]);
		wr64(p + 40, notes[i][1]);
	}
	for (int pass = 0; pass < 2; pass++) {
		RANGES *rs = pass ? loads : text;
		for (UINTN i = 0; i < rs->n; i++, p += PHDR) {
			UINT64 len = rs->r[i].end - rs->r[i].start;
			wr32(p, 1);                                  /* PT_LOAD */
			wr32(p + 4, 7);                              /* RWX */
			wr64(p + 8, rs->r[i].start);                 /* p_offset = physical address (the kernel's convention) */
			wr64(p + 16, pass ? page_offset + rs->r[i].start : text_delta + rs->r[i].start);
			wr64(p + 24, rs->r[i].start);
			wr64(p + 32, len);
			wr64(p + 40, len);
		}
	}
	return size;
}

/* The "EFIKDUMP"/"LOST" note (packages/core/src/formats/lost-ranges.ts). */
static UINTN build_lost_note(UINT8 *out, UINTN cap, RANGES *lost, UINT32 *reasons) {
	UINTN desc = 8 + 24 * lost->n, size = 12 + 12 + ((desc + 3) & ~3UL);
	if (size > cap) return 0;
	SetMem(out, size, 0);
	wr32(out, 9);
	wr32(out + 4, desc);
	wr32(out + 8, 0x54534f4c);
	CopyMem(out + 12, "EFIKDUMP", 9);
	UINT8 *d = out + 24;
	wr32(d, 1);
	wr32(d + 4, lost->n);
	for (UINTN i = 0; i < lost->n; i++) {
		wr64(d + 8 + 24 * i, lost->r[i].start);
		wr64(d + 16 + 24 * i, lost->r[i].end);
		wr32(d + 24 + 24 * i, reasons[i]);
	}
	return size;
}

/* ---- starting the kernel -------------------------------------------------------------------- */

static EFI_STATUS start_kernel(CHAR8 *cmdline) {
	EFI_DEVICE_PATH *path = FileDevicePath(SelfImage->DeviceHandle, L"\\vmlinuz");
	EFI_HANDLE kernel;
	EFI_STATUS st = BS->LoadImage(FALSE, Self, path, NULL, 0, &kernel);
	if (EFI_ERROR(st)) { say(L"error step=load-image status=%r", st); return st; }
	EFI_LOADED_IMAGE *li;
	BS->HandleProtocol(kernel, &LoadedImageProtocol, (void **)&li);
	UINTN n = strlena(cmdline);
	CHAR16 *wide = AllocateZeroPool((n + 1) * sizeof(CHAR16));
	for (UINTN i = 0; i < n; i++) wide[i] = cmdline[i];
	li->LoadOptions = wide;
	li->LoadOptionsSize = (n + 1) * sizeof(CHAR16);
	say(L"start-image bytes=%ld", (UINT64)li->ImageSize);
	st = BS->StartImage(kernel, NULL, NULL);
	say(L"error step=start-image status=%r", st);
	return st;
}

static EFI_STATUS normal_boot(CHAR16 *why) {
	CHAR8 *base = read_text(L"\\efikdump\\cmdline.txt");
	if (!base) { say(L"error step=read-cmdline file=\\efikdump\\cmdline.txt"); return EFI_NOT_FOUND; }
	UINT64 nonce = next_boot_nonce();
	CHAR8 *cmd = AllocateZeroPool(MAX_CMDLINE), num[24];
	append(cmd, MAX_CMDLINE, base);
	append(cmd, MAX_CMDLINE, (CHAR8 *)" efikdump.boot=");
	dec_ascii(num, nonce);
	append(cmd, MAX_CMDLINE, num);
	if (ZoneBase) {
		EFI_PHYSICAL_ADDRESS z = ZoneBase;
		EFI_STATUS zs = BS->AllocatePages(AllocateAddress, EfiReservedMemoryType, ZONE_BYTES / PAGE, &z);
		say(L"zone reserved base=0x%lx bytes=0x%lx status=%r", ZoneBase, ZONE_BYTES, zs);
		if (EFI_ERROR(zs)) { say(L"error step=reserve-zone"); }
		else {
			append(cmd, MAX_CMDLINE, (CHAR8 *)" efikdump.zone=");
			hex_ascii(num, ZoneBase);
			append(cmd, MAX_CMDLINE, num);
		}
	}
	say(L"boot mode=normal reason=%s nonce=%ld", why, nonce);
	say(L"cmdline %a", cmd);
	return start_kernel(cmd);
}

static BOOLEAN acpi_type(UINT32 t) { return t == EfiACPIReclaimMemory || t == EfiACPIMemoryNVS; }

static EFI_STATUS capture_boot(HANDOFF *h, MEMMAP entry) {
	UINT64 rs = h->crash_start, re = h->crash_end;
	say(L"handoff status=valid crash-start=0x%lx crash-end=0x%lx ram-ranges=%d vmcoreinfo=0x%lx vmcoreinfo-bytes=%d nonce=%ld",
	    rs, re, h->nr_ram, h->vmcoreinfo_paddr, h->vmcoreinfo_size, h->nonce);

	/* What the firmware holds at loader entry inside the old System RAM: declared lost. */
	RANGES lost = { 0 };
	UINT32 reasons[MAX_RANGES];
	for (UINT32 i = 0; i < h->nr_ram; i++) {
		UINT64 s = h->ram[i].start, e = h->ram[i].end;
		if (s < MIB) add_range(&lost, s, e < MIB ? e : MIB);   /* the capture kernel runs in low memory */
		for (UINTN j = 0; j < entry.n; j++) {
			EFI_MEMORY_DESCRIPTOR *d = DESC(entry, j);
			UINT64 ds = d->PhysicalStart, de = ds + d->NumberOfPages * PAGE;
			if (d->Type == EfiConventionalMemory) continue;
			UINT64 a = ds > s ? ds : s, b = de < e ? de : e;
			if (a < MIB) a = MIB;
			if (a >= b) continue;
			if (a < rs) add_range(&lost, a, b < rs ? b : rs);
			if (b > re) add_range(&lost, a > re ? a : re, b);
		}
	}
	/* Ranges a previous measurement found changed by POST (\efikdump\footprint.txt: "start end" hex lines). */
	CHAR8 *fp = NULL;
	{
		EFI_FILE_HANDLE root = LibOpenRoot(SelfImage->DeviceHandle), fh;
		if (root && !EFI_ERROR(root->Open(root, &fh, L"\\efikdump\\footprint.txt", EFI_FILE_MODE_READ, 0))) {
			EFI_FILE_INFO *info = LibFileInfo(fh);
			UINTN size = info ? info->FileSize : 0;
			fp = AllocateZeroPool(size + 1);
			fh->Read(fh, &size, fp);
			fh->Close(fh);
		}
	}
	UINTN footprint = 0;
	for (CHAR8 *c = fp; c && *c;) {
		UINT64 v[2] = { 0, 0 };
		for (int k = 0; k < 2; k++) {
			while (*c == ' ' || *c == '\n' || *c == '\r') c++;
			if (c[0] == '0' && c[1] == 'x') c += 2;
			for (;; c++) {
				UINT8 x = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : 16;
				if (x == 16) break;
				v[k] = v[k] * 16 + x;
			}
		}
		if (v[1] > v[0]) {
			for (UINT32 i = 0; i < h->nr_ram; i++) {
				UINT64 a = v[0] > h->ram[i].start ? v[0] : h->ram[i].start, b = v[1] < h->ram[i].end ? v[1] : h->ram[i].end;
				if (a < rs) add_range(&lost, a, b < rs ? b : rs);
				if (b > re) add_range(&lost, a > re ? a : re, b);
			}
			footprint++;
		}
		while (*c && *c != '\n') c++;
	}
	sort_ranges(&lost);
	for (UINTN i = 0; i < lost.n; i++) {
		reasons[i] = lost.r[i].start < MIB ? 4 : 1;
		say(L"lost start=0x%lx end=0x%lx reason=%s", lost.r[i].start, lost.r[i].end, reasons[i] == 4 ? L"unreadable" : L"firmware-footprint");
	}
	say(L"footprint-file ranges=%d", (UINT64)footprint);

	/* The chunk for the headers: the highest free 64 KiB in the region. */
	EFI_PHYSICAL_ADDRESS chunk = re - 1;
	EFI_STATUS st = BS->AllocatePages(AllocateMaxAddress, EfiLoaderData, CHUNK_BYTES / PAGE, &chunk);
	if (EFI_ERROR(st) || chunk < rs) { say(L"error step=chunk status=%r", st); return normal_boot(L"no-room-in-region"); }

	UINT64 left = claim_old_memory(rs, re);
	say(L"claim pages=%ld failed=%ld left=%ld", claimed_pages, failed_pages, left);

	/* PT_LOADs: old RAM minus the region minus what is declared lost. */
	RANGES cut = lost, loads = { 0 };
	add_range(&cut, rs, re);
	sort_ranges(&cut);
	for (UINT32 i = 0; i < h->nr_ram; i++) subtract(&loads, h->ram[i].start, h->ram[i].end, &cut);

	UINT8 *c = (UINT8 *)(UINTN)chunk;
	UINT64 vmci_at = chunk + 16384, lost_at = chunk + 16384 + VMCOREINFO_MAX;
	CopyMem((UINT8 *)(UINTN)vmci_at, h->vmcoreinfo, h->vmcoreinfo_size);
	UINTN lost_size = build_lost_note((UINT8 *)(UINTN)lost_at, CHUNK_BYTES - 16384 - VMCOREINFO_MAX, &lost, reasons);
	RANGES text = { 0 }, text_whole = { 0 };
	if (h->text_size) {
		/* The kernel image's kept pieces: its physical range minus what is lost or in the region. */
		RANGES cut_text = cut;
		add_range(&text_whole, h->text_paddr, (h->text_paddr + h->text_size + PAGE - 1) & ~(PAGE - 1));
		subtract(&text, text_whole.r[0].start, text_whole.r[0].end, &cut_text);
	}
	UINTN hdr = build_elfcorehdr(c, 16384, &text, h->text_vaddr - h->text_paddr, &loads, h->page_offset, vmci_at, h->vmcoreinfo_size, lost_at, lost_size);
	if (!hdr || !lost_size) { say(L"error step=elfcorehdr loads=%d lost=%d", loads.n, lost.n); return normal_boot(L"elfcorehdr-too-large"); }
	say(L"elfcorehdr addr=0x%lx bytes=%d text-loads=%d loads=%d page-offset=0x%lx vmcoreinfo-copy=0x%lx lost-note=0x%lx lost-ranges=%d", chunk, hdr, text.n, loads.n, h->page_offset, vmci_at, lost_at, lost.n);

	/* The capture kernel's memory map from the live map: the region as RAM (minus the chunk), low RAM, ACPI. */
	MEMMAP live = get_map();
	RANGES ram = { 0 }, acpi = { 0 }, chunk_cut = { 0 };
	add_range(&chunk_cut, chunk, chunk + CHUNK_BYTES);
	for (UINTN i = 0; i < live.n; i++) {
		EFI_MEMORY_DESCRIPTOR *d = DESC(live, i);
		UINT64 s = d->PhysicalStart, e = s + d->NumberOfPages * PAGE;
		if (acpi_type(d->Type)) { add_range(&acpi, s, e); continue; }
		if (!is_ram_type(d->Type)) continue;
		if (e <= MIB) {
			if (d->Type == EfiConventionalMemory || d->Type == EfiBootServicesCode || d->Type == EfiBootServicesData) add_range(&ram, s, e);
			continue;
		}
		UINT64 a = s > rs ? s : rs, b = e < re ? e : re;
		if (a < b) subtract(&ram, a, b, &chunk_cut);
	}
	sort_ranges(&ram);
	sort_ranges(&acpi);

	CHAR8 *base = read_text(L"\\efikdump\\capture.txt");
	if (!base) { say(L"error step=read-cmdline file=\\efikdump\\capture.txt"); return EFI_NOT_FOUND; }
	CHAR8 *cmd = AllocateZeroPool(MAX_CMDLINE), num[24], num2[24], piece[64];
	append(cmd, MAX_CMDLINE, base);
	append(cmd, MAX_CMDLINE, (CHAR8 *)" nr_cpus=1 reset_devices elfcorehdr=");
	hex_ascii(num, chunk);
	append(cmd, MAX_CMDLINE, num);
	append(cmd, MAX_CMDLINE, (CHAR8 *)" memmap=exactmap");
	BOOLEAN fits = TRUE;
	for (int pass = 0; pass < 2; pass++) {
		RANGES *rs2 = pass ? &acpi : &ram;
		for (UINTN i = 0; i < rs2->n; i++) {
			hex_ascii(num, rs2->r[i].end - rs2->r[i].start);
			hex_ascii(num2, rs2->r[i].start);
			piece[0] = 0;
			append(piece, sizeof piece, (CHAR8 *)" memmap=");
			append(piece, sizeof piece, num);
			append(piece, sizeof piece, pass ? (CHAR8 *)"#" : (CHAR8 *)"@");
			append(piece, sizeof piece, num2);
			fits = fits && append(cmd, MAX_CMDLINE, piece);
		}
	}
	if (!fits) { say(L"error step=cmdline reason=too-long"); return normal_boot(L"capture-cmdline-too-long"); }
	say(L"boot mode=capture ram-ranges=%d acpi-ranges=%d", ram.n, acpi.n);
	say(L"cmdline %a", cmd);
	return start_kernel(cmd);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *systab) {
	InitializeLib(image, systab);
	Self = image;
	BS->HandleProtocol(image, &LoadedImageProtocol, (void **)&SelfImage);
	/* Memory map first: what the firmware holds when it hands over is the footprint. */
	MEMMAP entry = get_map();
	UINT64 conventional = 0;
	for (UINTN i = 0; i < entry.n; i++) if (DESC(entry, i)->Type == EfiConventionalMemory) conventional += DESC(entry, i)->NumberOfPages;
	say(L"entry version=1 map-entries=%d conventional-pages=%ld image=0x%lx", entry.n, conventional, (UINT64)(UINTN)SelfImage->ImageBase);

	/* Lab harness: wait for a key so the host can snapshot RAM at loader entry. */
	if (file_exists(L"\\efikdump\\snapshot")) {
		say(L"snapshot-wait");
		UINTN idx = 1;
		EFI_INPUT_KEY key;
		EFI_EVENT events[2] = { ST->ConIn->WaitForKey, NULL };
		/* Never wait for ever: 60 s, then go on as if the key came. */
		if (!EFI_ERROR(BS->CreateEvent(EVT_TIMER, 0, NULL, NULL, &events[1])) && !EFI_ERROR(BS->SetTimer(events[1], TimerRelative, 600000000ULL)))
			BS->WaitForEvent(2, events, &idx);
		if (idx == 0) ST->ConIn->ReadKeyStroke(ST->ConIn, &key);
		say(L"snapshot-done by=%s", idx == 0 ? L"key" : L"timeout");
	}

	CHAR8 *design = read_text(L"\\efikdump\\design.txt");
	if (design && CompareMem(design, "reserved-memory ", 16) == 0) {
		for (CHAR8 *c = design + 16; *c; c++) {
			UINT8 x = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : 16;
			if (c[0] == '0' && c[1] == 'x') { c++; continue; }
			if (x == 16) break;
			ZoneBase = ZoneBase * 16 + x;
		}
		if (ZoneBase % MIB) { say(L"error step=design reason=zone-not-aligned base=0x%lx", ZoneBase); ZoneBase = 0; }
	}
	say(L"design name=%a zone=0x%lx", ZoneBase ? "efi-warm-reserved-memory" : "efi-warm-efivar", ZoneBase);

	UINT8 *buf = NULL;
	UINTN size = 0, records = 0;
	if (ZoneBase) {
		/* The zone is old memory now (nothing reserved it in this boot): read it in place. */
		if (!covered(entry, ZoneBase, ZoneBase + ZONE_BYTES, is_ram_type)) { say(L"crash-records count=0 source=ramoops reason=zone-not-ram"); return normal_boot(L"zone-not-ram"); }
		for (UINT64 z = 0; z < RAMOOPS_BYTES / RAMOOPS_RECORD; z++) {
			UINT8 *zone = (UINT8 *)(UINTN)(ZoneBase + RAMOOPS_OFFSET + z * RAMOOPS_RECORD);
			UINT32 used = rd32(zone + 8);
			if (rd32(zone) == RAMOOPS_SIG && used > 0 && used <= RAMOOPS_RECORD - 12) records++;
		}
		say(L"crash-records count=%d source=ramoops", records);
		if (!records) return normal_boot(L"no-crash-records");
		UINT8 *rec = (UINT8 *)(UINTN)ZoneBase;
		size = rd32(rec) == HANDOFF_MAGIC ? rd32(rec + 8) : 0;
		if (size < HANDOFF_FIXED || size > RAMOOPS_OFFSET) { say(L"handoff status=absent source=zone"); return normal_boot(L"no-handoff"); }
		buf = AllocatePool(size);
		CopyMem(buf, rec, size);
		/* Consume the crash marker and the record now: a capture that fails must not loop. */
		for (UINT64 z = 0; z < RAMOOPS_BYTES / RAMOOPS_RECORD; z++) wr32((UINT8 *)(UINTN)(ZoneBase + RAMOOPS_OFFSET + z * RAMOOPS_RECORD) + 8, 0);
		SetMem(rec, 16, 0);
		say(L"records-consumed count=%d source=ramoops", records);
	} else {
		records = count_crash_records();
		say(L"crash-records count=%d source=efi-pstore", records);
		if (!records) return normal_boot(L"no-crash-records");
		UINT32 attr;
		EFI_STATUS st = RT->GetVariable(L"EfikdumpHandoff", &EfikdumpGuid, &attr, &size, NULL);
		if (st != EFI_BUFFER_TOO_SMALL) { say(L"handoff status=absent"); return normal_boot(L"no-handoff"); }
		buf = AllocatePool(size);
		st = RT->GetVariable(L"EfikdumpHandoff", &EfikdumpGuid, &attr, &size, buf);
		if (EFI_ERROR(st)) { say(L"handoff status=unreadable status=%r", st); return normal_boot(L"handoff-unreadable"); }
	}
	static HANDOFF h;
	CHAR16 *bad = validate_handoff(buf, size, &h, entry);
	if (bad) { say(L"handoff status=invalid reason=%s bytes=%d", bad, size); return normal_boot(L"handoff-invalid"); }
	return capture_boot(&h, entry);
}
