package modfile

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Bounds of what one module file may make the parser do.
const (
	// MaxModinfoBytes bounds the .modinfo section read (real modules have
	// a few hundred bytes to a few KiB; aliases make large drivers ~20 KiB).
	MaxModinfoBytes = 256 << 10
	// MaxModinfoEntries bounds the key=value strings examined.
	MaxModinfoEntries = 4096
	// MaxValueBytes bounds one kept value; a longer one is cut.
	MaxValueBytes = 1 << 10
	// MaxMulti bounds the values kept of a repeated key (author, import_ns).
	MaxMulti = 16
	// MaxSignatureBytes bounds an appended signature (an RSA-4096 PKCS#7
	// without certificates is ~600 bytes).
	MaxSignatureBytes = 64 << 10
	// MaxProblems bounds Info.Problems.
	MaxProblems = 8
	// MaxSections bounds the ELF section headers accepted.
	MaxSections = 1 << 16
)

// SignatureMagic ends every module file signed by scripts/sign-file.
const SignatureMagic = "~Module signature appended~\n"

// sigInfoLen is sizeof(struct module_signature): algo, hash, id_type,
// signer_len, key_id_len, three pad bytes, big-endian sig_len.
const sigInfoLen = 12

// Module signature id types (struct module_signature.id_type).
const (
	IDTypePGP   = 0
	IDTypeX509  = 1
	IDTypePKCS7 = 2
)

// Info is what a module file says about itself. Only Path, Size, SHA256
// and Problems are set for a file that is not a module.
type Info struct {
	Path string
	Size int64
	// SHA256 is the lower-case hex SHA-256 of the file as stored (before
	// any decompression); "" when the file was not read.
	SHA256 string
	// Dev, Inode identify the file read (ReadFile only).
	Dev   uint64
	Inode uint64
	// Compression is "gzip", "xz" or "zstd" for a compressed module.
	Compression string
	// ELF reports the (decompressed) content parsed as an ELF file.
	ELF bool
	// Machine is the ELF machine, e.g. "EM_X86_64".
	Machine string
	Modinfo Modinfo
	// ThisModuleName is the name in the module's struct module (section
	// .gnu.linkonce.this_module), the name the kernel registers; "" when
	// unknown. A .modinfo name that differs was forged.
	ThisModuleName string
	// Signature is the appended signature; nil when the file has none.
	Signature *Signature
	// Problems lists what could not be read or parsed, at most MaxProblems.
	Problems []string
}

// Modinfo is the .modinfo section. For a key given more than once the
// single-valued fields keep the first value, as the kernel's get_modinfo
// does.
type Modinfo struct {
	Name, Vermagic, License, Description, Version, Srcversion string
	Authors, ImportNS                                         []string
	Depends                                                   []string
	// Intree, Retpoline, Staging and Livepatch are the "Y" flags modpost
	// writes.
	Intree, Retpoline, Staging, Livepatch bool
	// Entries is how many key=value strings the section held (bounded by
	// MaxModinfoEntries).
	Entries int
}

// Signature is an appended module signature.
type Signature struct {
	// The struct module_signature fields, as written.
	Algo, Hash, IDType, SignerLen, KeyIDLen uint8
	SigLen                                  uint32
	// Type is "PKCS#7", "X509" or "PGP" from IDType.
	Type string
	// From the PKCS#7 SignerInfo (IDTypePKCS7): the issuer's common name
	// (what modinfo calls the signer), the whole issuer name, the serial
	// number in colon-separated upper-case hex (modinfo's sig_key), or the
	// subject key identifier when the signer is named by it (sign-file -k),
	// and the digest and signature algorithms.
	Signer          string
	Issuer          string
	Serial          string
	KeyID           string
	DigestAlgorithm string
	SigAlgorithm    string
	// Certificates reports the PKCS#7 carries certificates (sign-file
	// never adds them; the kernel ignores them).
	Certificates bool
}

func (in *Info) problem(format string, args ...any) {
	if len(in.Problems) < MaxProblems {
		in.Problems = append(in.Problems, fmt.Sprintf(format, args...))
	}
}

// Signed reports whether the file carries an appended signature.
func (in *Info) Signed() bool { return in != nil && in.Signature != nil }

// Parse parses a whole module file's content. It never fails: what cannot
// be parsed is listed in Problems. It does not set Path or the file's
// identity; it sets Size and SHA256 from data.
func Parse(data []byte) (in Info) {
	sum := sha256.Sum256(data)
	in.Size, in.SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
	defer func() {
		// debug/elf and encoding/asn1 are meant not to panic on bad
		// input; should one do so anyway, the alert still goes out.
		if r := recover(); r != nil {
			in.problem("%s: %v", panicProblem, r)
		}
	}()
	parseContent(&in, data, 0)
	return in
}

// panicProblem starts the problem a recovered parser panic leaves
// (FuzzParse fails on it).
const panicProblem = "parser panic"

// unpackContent parses a compressed module's content: one level deep, at
// most maxUnpacked bytes.
func unpackContent(in *Info, data []byte, depth int, kind string, unpack func([]byte, int64) ([]byte, error)) {
	in.Compression = kind
	if depth > 0 {
		in.problem("%s inside a compressed module: not unpacked", kind)
		return
	}
	raw, err := unpack(data, maxUnpacked(len(data)))
	if err != nil {
		in.problem("%s: %v", kind, err)
		return
	}
	parseContent(in, raw, depth+1)
}

func parseContent(in *Info, data []byte, depth int) {
	switch {
	case bytes.HasPrefix(data, []byte{0x1f, 0x8b}):
		unpackContent(in, data, depth, "gzip", gunzip)
		return
	case bytes.HasPrefix(data, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		in.Compression = "xz"
		in.problem("xz-compressed module: content not parsed")
		return
	case bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		unpackContent(in, data, depth, "zstd", unzstd)
		return
	}
	body := data
	if bytes.HasSuffix(data, []byte(SignatureMagic)) {
		var sig *Signature
		sig, body = parseTrailer(in, data)
		in.Signature = sig
	}
	parseELF(in, body)
}

// maxUnpacked bounds a decompressed module: real modules compress 2 to 5
// times; 16 times the file, at most 256 MiB, leaves room without letting a
// small bomb take the memory.
func maxUnpacked(n int) int64 { return min(int64(n)*16+1<<20, 256<<20) }

// unzstd decompresses one zstd stream, at most limit bytes, with the
// decoder's window and memory bounded by limit too (a hostile frame header
// cannot ask for more).
func unzstd(data []byte, limit int64) ([]byte, error) {
	zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(uint64(limit)), zstd.WithDecoderMaxWindow(uint64(min(limit, 64<<20))),
		zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return readAtMost(zr, limit)
}

// readAtMost reads r to its end, failing past limit bytes.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	var out bytes.Buffer
	n, err := io.Copy(&out, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("more than %d bytes unpacked", limit)
	}
	return out.Bytes(), nil
}

func gunzip(data []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return readAtMost(zr, limit)
}

// parseTrailer reads the struct module_signature before the magic and
// returns the signature and the module without it. A trailer whose
// lengths do not fit the file yields a Signature with what could be read,
// a problem, and the whole file minus the magic as the body.
func parseTrailer(in *Info, data []byte) (*Signature, []byte) {
	end := len(data) - len(SignatureMagic)
	if end < sigInfoLen {
		in.problem("signature magic without room for the signature header")
		return &Signature{}, data[:end]
	}
	h := data[end-sigInfoLen : end]
	s := &Signature{Algo: h[0], Hash: h[1], IDType: h[2], SignerLen: h[3], KeyIDLen: h[4],
		SigLen: binary.BigEndian.Uint32(h[8:12])}
	s.Type = idTypeName(s.IDType)
	// The appended data is signer, key id, signature, in that order.
	appended := uint64(s.SignerLen) + uint64(s.KeyIDLen) + uint64(s.SigLen)
	if appended > uint64(end-sigInfoLen) || s.SigLen > MaxSignatureBytes {
		in.problem("signature header claims %d bytes of signature, the file has %d before it", appended, end-sigInfoLen)
		return s, data[:end-sigInfoLen]
	}
	start := end - sigInfoLen - int(appended)
	sig := data[end-sigInfoLen-int(s.SigLen) : end-sigInfoLen]
	if s.IDType == IDTypePKCS7 {
		if s.SignerLen != 0 || s.KeyIDLen != 0 || s.Algo != 0 || s.Hash != 0 {
			in.problem("PKCS#7 signature header with non-zero algo, hash, signer or key id lengths")
		}
		if err := parsePKCS7(s, sig); err != nil {
			in.problem("PKCS#7 signature: %v", err)
		}
	}
	return s, data[:start]
}

func idTypeName(t uint8) string {
	switch t {
	case IDTypePGP:
		return "PGP"
	case IDTypeX509:
		return "X509"
	case IDTypePKCS7:
		return "PKCS#7"
	}
	return fmt.Sprintf("unknown(%d)", t)
}

func parseELF(in *Info, body []byte) {
	if len(body) < 4 || string(body[:4]) != elf.ELFMAG {
		in.problem("not an ELF file")
		return
	}
	if n, ok := sectionCount(body); ok && n > MaxSections {
		in.problem("ELF: %d section headers, more than %d", n, MaxSections)
		return
	}
	f, err := elf.NewFile(bytes.NewReader(body))
	if err != nil {
		in.problem("ELF: %v", err)
		return
	}
	in.ELF = true
	in.Machine = f.Machine.String()
	if f.Type != elf.ET_REL {
		in.problem("ELF type %s, a module is ET_REL", f.Type)
	}
	if s := f.Section(".modinfo"); s == nil {
		in.problem("no .modinfo section")
	} else if b, ok := sectionBytes(in, s, body, MaxModinfoBytes); ok {
		in.Modinfo = parseModinfo(b)
	}
	if s := f.Section(".gnu.linkonce.this_module"); s != nil {
		if b, ok := sectionBytes(in, s, body, 4096); ok {
			in.ThisModuleName = thisModuleName(b, f.Class)
		}
	}
}

// sectionCount reads e_shnum from an ELF header, before debug/elf
// allocates anything for the section table.
func sectionCount(b []byte) (int, bool) {
	if len(b) < 64 || b[elf.EI_DATA] != byte(elf.ELFDATA2LSB) && b[elf.EI_DATA] != byte(elf.ELFDATA2MSB) {
		return 0, false
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if b[elf.EI_DATA] == byte(elf.ELFDATA2MSB) {
		bo = binary.BigEndian
	}
	switch elf.Class(b[elf.EI_CLASS]) {
	case elf.ELFCLASS64:
		return int(bo.Uint16(b[60:62])), true
	case elf.ELFCLASS32:
		return int(bo.Uint16(b[48:50])), true
	}
	return 0, false
}

// sectionBytes returns the file bytes of s, checked against the file and
// max, without debug/elf's reader.
func sectionBytes(in *Info, s *elf.Section, body []byte, max uint64) ([]byte, bool) {
	if s.Type == elf.SHT_NOBITS {
		in.problem("section %s has no bits", s.Name)
		return nil, false
	}
	if s.Flags&elf.SHF_COMPRESSED != 0 {
		in.problem("section %s is compressed", s.Name)
		return nil, false
	}
	if s.Size > max {
		in.problem("section %s: %d bytes, more than %d", s.Name, s.Size, max)
		return nil, false
	}
	if s.Offset > uint64(len(body)) || s.Size > uint64(len(body))-s.Offset {
		in.problem("section %s: bytes %d+%d outside the file (%d bytes)", s.Name, s.Offset, s.Size, len(body))
		return nil, false
	}
	return body[s.Offset : s.Offset+s.Size], true
}

// parseModinfo splits the NUL-separated key=value strings.
func parseModinfo(b []byte) Modinfo {
	var m Modinfo
	seen := map[string]bool{}
	for len(b) > 0 && m.Entries < MaxModinfoEntries {
		var ent []byte
		if i := bytes.IndexByte(b, 0); i >= 0 {
			ent, b = b[:i], b[i+1:]
		} else {
			ent, b = b, nil
		}
		if len(ent) == 0 {
			continue // alignment padding between entries
		}
		m.Entries++
		eq := bytes.IndexByte(ent, '=')
		if eq <= 0 {
			continue
		}
		key, val := string(ent[:eq]), ent[eq+1:]
		if len(val) > MaxValueBytes {
			val = val[:MaxValueBytes]
		}
		first := !seen[key]
		seen[key] = true
		switch key {
		case "author":
			if len(m.Authors) < MaxMulti {
				m.Authors = append(m.Authors, string(val))
			}
		case "import_ns":
			if len(m.ImportNS) < MaxMulti {
				m.ImportNS = append(m.ImportNS, string(val))
			}
		}
		if !first {
			continue
		}
		switch key {
		case "name":
			m.Name = string(val)
		case "vermagic":
			m.Vermagic = strings.TrimRight(string(val), " ")
		case "license":
			m.License = string(val)
		case "description":
			m.Description = string(val)
		case "version":
			m.Version = string(val)
		case "srcversion":
			m.Srcversion = string(val)
		case "depends":
			for _, d := range strings.Split(string(val), ",") {
				if d != "" && len(m.Depends) < MaxMulti*4 {
					m.Depends = append(m.Depends, d)
				}
			}
		case "intree":
			m.Intree = string(val) == "Y"
		case "retpoline":
			m.Retpoline = string(val) == "Y"
		case "staging":
			m.Staging = string(val) == "Y"
		case "livepatch":
			m.Livepatch = string(val) == "Y"
		}
	}
	return m
}

// moduleNameLen is MODULE_NAME_LEN: 64 - sizeof(unsigned long).
const moduleNameLen64, moduleNameLen32 = 56, 60

// thisModuleName reads struct module's name: after the state enum (4
// bytes) and the list head (two pointers), aligned to the pointer size.
func thisModuleName(b []byte, class elf.Class) string {
	off, n := 24, moduleNameLen64
	if class == elf.ELFCLASS32 {
		off, n = 12, moduleNameLen32
	}
	if len(b) < off+n {
		return ""
	}
	name := b[off : off+n]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return string(name)
}

// ErrNotRegular: ReadFile was given something other than a regular file.
var ErrNotRegular = errors.New("not a regular file")
