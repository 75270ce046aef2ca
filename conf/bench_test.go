package conf

import "testing"

func BenchmarkParseExample(b *testing.B) {
	data := []byte(readFile(b, "testdata/example.toml"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("testdata/example.toml", data); err != nil {
			b.Fatal(err)
		}
	}
}
