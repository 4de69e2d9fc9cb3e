package codec

// SplitAnnexB splits an Annex-B byte stream into NAL units without their
// start codes (3- or 4-byte). The returned slices alias b. Bytes before the
// first start code are ignored.
func SplitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			i++
			continue
		}
		if start >= 0 {
			end := i
			// A 4-byte start code: the zero before belongs to it.
			for end > start && b[end-1] == 0 {
				end--
			}
			if end > start {
				nalus = append(nalus, b[start:end])
			}
		}
		i += 3
		start = i
	}
	if start >= 0 && start < len(b) {
		nalus = append(nalus, b[start:])
	}
	return nalus
}

// JoinAnnexB is the inverse of SplitAnnexB: it appends each NAL unit to dst
// with a 4-byte start code and returns the extended slice.
func JoinAnnexB(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = append(dst, 0, 0, 0, 1)
		dst = append(dst, n...)
	}
	return dst
}
