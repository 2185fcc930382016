package modfile

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// The PKCS#7 (RFC 2315) a module signature holds, as scripts/sign-file
// writes it and the kernel's pkcs7 parser reads it:
//
//	ContentInfo ::= SEQUENCE { contentType OID signedData, content [0] EXPLICIT SignedData }
//	SignedData  ::= SEQUENCE { version, digestAlgorithms SET, contentInfo (detached data),
//	                           certificates [0] OPTIONAL, crls [1] OPTIONAL, signerInfos SET }
//	SignerInfo  ::= SEQUENCE { version, sid, digestAlgorithm, authenticatedAttributes [0] OPTIONAL,
//	                           digestEncryptionAlgorithm, encryptedDigest, ... }
//
// where sid is issuerAndSerialNumber SEQUENCE { issuer Name, serial INTEGER }
// or, with sign-file -k, a [0] subjectKeyIdentifier. Only the first
// SignerInfo is read (the kernel uses the first that matches a key).

var (
	oidSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	errPKCS7      = errors.New("malformed")
)

// maxASN1Elements bounds the elements walked in one constructed value.
const maxASN1Elements = 64

var digestNames = map[string]string{
	"1.3.14.3.2.26":           "sha1",
	"2.16.840.1.101.3.4.2.4":  "sha224",
	"2.16.840.1.101.3.4.2.1":  "sha256",
	"2.16.840.1.101.3.4.2.2":  "sha384",
	"2.16.840.1.101.3.4.2.3":  "sha512",
	"2.16.840.1.101.3.4.2.8":  "sha3-256",
	"2.16.840.1.101.3.4.2.9":  "sha3-384",
	"2.16.840.1.101.3.4.2.10": "sha3-512",
	"1.2.156.10197.1.401":     "sm3",
}

var sigAlgNames = map[string]string{
	"1.2.840.113549.1.1.1":  "rsa",
	"1.2.840.113549.1.1.11": "rsa-sha256",
	"1.2.840.113549.1.1.12": "rsa-sha384",
	"1.2.840.113549.1.1.13": "rsa-sha512",
	"1.2.840.10045.2.1":     "ecdsa",
	"1.2.840.10045.4.3.2":   "ecdsa-sha256",
	"1.2.840.10045.4.3.3":   "ecdsa-sha384",
	"1.2.840.10045.4.3.4":   "ecdsa-sha512",
	"1.2.156.10197.1.501":   "sm2",
}

func algName(names map[string]string, oid asn1.ObjectIdentifier) string {
	s := oid.String()
	if n, ok := names[s]; ok {
		return n
	}
	return s
}

// elements returns the elements of a constructed value's content.
func elements(content []byte) ([]asn1.RawValue, error) {
	var out []asn1.RawValue
	for len(content) > 0 {
		if len(out) == maxASN1Elements {
			return nil, fmt.Errorf("%w: more than %d elements", errPKCS7, maxASN1Elements)
		}
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(content, &v)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		content = rest
	}
	return out, nil
}

// one parses der as exactly one value of the given class and tag.
func one(der []byte, class, tag int, what string) (asn1.RawValue, error) {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(der, &v)
	if err != nil {
		return v, fmt.Errorf("%s: %w", what, err)
	}
	if len(rest) > 0 {
		return v, fmt.Errorf("%w: %d bytes after %s", errPKCS7, len(rest), what)
	}
	if v.Class != class || v.Tag != tag {
		return v, fmt.Errorf("%w: %s has class %d tag %d", errPKCS7, what, v.Class, v.Tag)
	}
	return v, nil
}

func isSeq(v asn1.RawValue) bool {
	return v.Class == asn1.ClassUniversal && v.Tag == asn1.TagSequence && v.IsCompound
}

func parsePKCS7(s *Signature, der []byte) error {
	ci, err := one(der, asn1.ClassUniversal, asn1.TagSequence, "ContentInfo")
	if err != nil {
		return err
	}
	parts, err := elements(ci.Bytes)
	if err != nil {
		return fmt.Errorf("ContentInfo: %w", err)
	}
	if len(parts) != 2 {
		return fmt.Errorf("%w: ContentInfo has %d elements", errPKCS7, len(parts))
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(parts[0].FullBytes, &oid); err != nil {
		return fmt.Errorf("content type: %w", err)
	}
	if !oid.Equal(oidSignedData) {
		return fmt.Errorf("%w: content type %s, not signedData", errPKCS7, oid)
	}
	if parts[1].Class != asn1.ClassContextSpecific || parts[1].Tag != 0 {
		return fmt.Errorf("%w: content is not [0]", errPKCS7)
	}
	sd, err := one(parts[1].Bytes, asn1.ClassUniversal, asn1.TagSequence, "SignedData")
	if err != nil {
		return err
	}
	fields, err := elements(sd.Bytes)
	if err != nil {
		return fmt.Errorf("SignedData: %w", err)
	}
	// version, digestAlgorithms, contentInfo, [0] certs?, [1] crls?, signerInfos
	if len(fields) < 4 {
		return fmt.Errorf("%w: SignedData has %d elements", errPKCS7, len(fields))
	}
	for _, f := range fields[3 : len(fields)-1] {
		if f.Class == asn1.ClassContextSpecific && f.Tag == 0 {
			s.Certificates = true
		}
	}
	sis := fields[len(fields)-1]
	if sis.Class != asn1.ClassUniversal || sis.Tag != asn1.TagSet {
		return fmt.Errorf("%w: signerInfos is not a SET", errPKCS7)
	}
	infos, err := elements(sis.Bytes)
	if err != nil {
		return fmt.Errorf("signerInfos: %w", err)
	}
	if len(infos) == 0 {
		return fmt.Errorf("%w: no SignerInfo", errPKCS7)
	}
	return parseSignerInfo(s, infos[0])
}

func parseSignerInfo(s *Signature, si asn1.RawValue) error {
	if !isSeq(si) {
		return fmt.Errorf("%w: SignerInfo is not a SEQUENCE", errPKCS7)
	}
	f, err := elements(si.Bytes)
	if err != nil {
		return fmt.Errorf("SignerInfo: %w", err)
	}
	if len(f) < 5 {
		return fmt.Errorf("%w: SignerInfo has %d elements", errPKCS7, len(f))
	}
	switch sid := f[1]; {
	case isSeq(sid):
		if err := parseIssuerSerial(s, sid); err != nil {
			return err
		}
	case sid.Class == asn1.ClassContextSpecific && sid.Tag == 0 && !sid.IsCompound:
		s.KeyID = colonHex(sid.Bytes)
	default:
		return fmt.Errorf("%w: SignerInfo sid is neither issuerAndSerialNumber nor [0] keyIdentifier", errPKCS7)
	}
	var dig pkix.AlgorithmIdentifier
	if rest, err := asn1.Unmarshal(f[2].FullBytes, &dig); err != nil || len(rest) > 0 {
		return fmt.Errorf("%w: digestAlgorithm", errPKCS7)
	}
	s.DigestAlgorithm = algName(digestNames, dig.Algorithm)
	k := 3
	if f[k].Class == asn1.ClassContextSpecific && f[k].Tag == 0 {
		k++ // authenticatedAttributes
	}
	var sa pkix.AlgorithmIdentifier
	if rest, err := asn1.Unmarshal(f[k].FullBytes, &sa); err != nil || len(rest) > 0 {
		return fmt.Errorf("%w: digestEncryptionAlgorithm", errPKCS7)
	}
	s.SigAlgorithm = algName(sigAlgNames, sa.Algorithm)
	return nil
}

func parseIssuerSerial(s *Signature, v asn1.RawValue) error {
	f, err := elements(v.Bytes)
	if err != nil {
		return fmt.Errorf("issuerAndSerialNumber: %w", err)
	}
	if len(f) != 2 {
		return fmt.Errorf("%w: issuerAndSerialNumber has %d elements", errPKCS7, len(f))
	}
	var rdn pkix.RDNSequence
	if rest, err := asn1.Unmarshal(f[0].FullBytes, &rdn); err != nil || len(rest) > 0 {
		return fmt.Errorf("%w: issuer name", errPKCS7)
	}
	var name pkix.Name
	name.FillFromRDNSequence(&rdn)
	s.Signer = cut(name.CommonName)
	s.Issuer = cut(rdn.String())
	if f[1].Class != asn1.ClassUniversal || f[1].Tag != asn1.TagInteger || len(f[1].Bytes) == 0 {
		return fmt.Errorf("%w: serial number is not an INTEGER", errPKCS7)
	}
	serial := f[1].Bytes
	if len(serial) > 1 && serial[0] == 0 {
		serial = serial[1:] // the sign byte of a positive number
	}
	s.Serial = colonHex(serial)
	return nil
}

// colonHex formats b as modinfo does: upper-case hex pairs joined by ':'.
func colonHex(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	h := strings.ToUpper(hex.EncodeToString(b))
	var sb strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(h[i : i+2])
	}
	return sb.String()
}

// cut bounds a string taken from a signature to MaxValueBytes.
func cut(s string) string {
	if len(s) > MaxValueBytes {
		return s[:MaxValueBytes]
	}
	return s
}
