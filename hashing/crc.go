package hashing

import "hash/crc32"

// slicing8 holds the slicing-by-8 tables of the IEEE polynomial; slicing8[0] is the
// ordinary byte table.
var slicing8 = func() *[8][256]uint32 {
	var t [8][256]uint32
	t[0] = *crc32.IEEETable
	for i := range 256 {
		c := t[0][i]
		for j := 1; j < 8; j++ {
			c = t[0][c&0xff] ^ c>>8
			t[j][i] = c
		}
	}
	return &t
}()

// crcUpdate continues an IEEE (zlib) CRC-32: crcUpdate(crcUpdate(0, a), b) equals
// crc32.ChecksumIEEE(a+b), which is what nginx's ngx_crc32_init/update/final compute
// (src/core/ngx_crc32.h). It is implemented here rather than calling crc32.Update because
// the latter dispatches through a function value, which makes its argument escape: a hash key
// the caller built in a stack buffer would be moved to the heap on every connection. Keys are
// short (nginx's $remote_addr is at most 39 bytes), where slicing-by-8 is as fast as the
// assembly versions.
func crcUpdate(crc uint32, p []byte) uint32 {
	t := slicing8
	crc = ^crc
	for len(p) >= 8 {
		crc ^= uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
		crc = t[0][p[7]] ^ t[1][p[6]] ^ t[2][p[5]] ^ t[3][p[4]] ^
			t[4][crc>>24] ^ t[5][crc>>16&0xff] ^ t[6][crc>>8&0xff] ^ t[7][crc&0xff]
		p = p[8:]
	}
	for _, b := range p {
		crc = t[0][byte(crc)^b] ^ crc>>8
	}
	return ^crc
}
