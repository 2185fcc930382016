package ecs

import (
	"strings"

	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/kmsg"
	"github.com/auditlkm/auditlkm/internal/modfile"
)

// appendModuleFileECS writes, inside file.*, the ECS fields of a module
// file that was read: size, hash and whether it carries a signature.
// code_signature.trusted/valid/status are left out: nothing here verifies
// the signature (the kernel does, and says so in its log).
func appendModuleFileECS(w *writer, in *modfile.Info) {
	if in.SHA256 == "" {
		return // not read (too large, gone, ...): auditd.module.read_error says why
	}
	w.int("size", in.Size)
	w.open("hash")
	w.str("sha256", in.SHA256)
	w.close()
	w.open("code_signature")
	w.bool("exists", in.Signed())
	if s := in.Signature; s != nil {
		w.str("subject_name", s.Signer)
		w.str("digest_algorithm", s.DigestAlgorithm)
	}
	w.close()
}

// appendRelatedHash writes related.hash: the module file's hash, so that
// a search for the hash finds every alert about the file.
func appendRelatedHash(w *writer, mf *detections.ModuleFile) {
	if mf == nil {
		return
	}
	var hs [2]string
	n := 0
	if mf.Info != nil && mf.Info.SHA256 != "" {
		hs[n], n = mf.Info.SHA256, n+1
	}
	if k := kernelSHA256(mf); k != "" && (n == 0 || hs[0] != k) {
		hs[n], n = k, n+1
	}
	if n > 0 {
		w.open("related")
		w.strs("hash", hs[:n])
		w.close()
	}
}

// kernelSHA256 returns the SHA-256 digest of the kernel's hash of mf (IMA),
// "" when it has none or it is another algorithm.
func kernelSHA256(mf *detections.ModuleFile) string {
	if d, ok := strings.CutPrefix(mf.KernelHash, "sha256:"); ok {
		return d
	}
	return ""
}

// appendModule writes auditd.module: what the module file of a load says
// about itself (ECS has no fields for a kernel module's metadata).
func appendModule(w *writer, mf *detections.ModuleFile) {
	if mf == nil {
		return
	}
	w.open("module")
	w.str("path", mf.Path)
	w.str("ima_hash", mf.KernelHash)
	w.str("read_error", mf.Error)
	w.strs("mismatch", mf.Mismatch)
	if in := mf.Info; in != nil {
		if in.SHA256 != "" {
			w.str("sha256", in.SHA256)
			w.int("size", in.Size)
		}
		w.str("compression", in.Compression)
		m := &in.Modinfo
		w.str("name", m.Name)
		w.str("struct_name", in.ThisModuleName)
		w.str("vermagic", m.Vermagic)
		w.str("license", m.License)
		w.strs("author", m.Authors)
		w.str("description", m.Description)
		w.str("version", m.Version)
		w.str("srcversion", m.Srcversion)
		if in.ELF {
			w.strs("depends", m.Depends)
			w.bool("intree", m.Intree)
			w.bool("retpoline", m.Retpoline)
			if m.Staging {
				w.bool("staging", true)
			}
			if m.Livepatch {
				w.bool("livepatch", true)
			}
			w.strs("import_ns", m.ImportNS)
		}
		if in.SHA256 != "" {
			w.bool("signed", in.Signed())
		}
		if s := in.Signature; s != nil {
			w.open("signature")
			w.str("type", s.Type)
			w.str("signer", s.Signer)
			w.str("issuer", s.Issuer)
			w.str("serial", s.Serial)
			w.str("key_id", s.KeyID)
			w.str("digest_algorithm", s.DigestAlgorithm)
			w.str("algorithm", s.SigAlgorithm)
			w.int("length", int64(s.SigLen))
			w.close()
		}
		w.strs("problems", in.Problems)
	}
	w.close()
}

// appendKernelLog writes auditd.kernel_log: where a kernel-log alert's
// line sits in the kernel's log (its text is in message).
func appendKernelLog(w *writer, l *kmsg.Line) {
	if l == nil {
		return
	}
	w.open("kernel_log")
	w.uint("sequence", l.Seq)
	w.int("facility", int64(l.Facility))
	w.int("level", int64(l.Level))
	w.int("since_boot_us", l.Monotonic.Microseconds())
	w.close()
}
