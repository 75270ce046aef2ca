package splice

import "sync"

// bufPool is a sync.Pool of equally sized byte slices. It stores *[]byte so
// that Get and Put do not allocate.
type bufPool struct {
	pool sync.Pool
	size int
}

func (b *bufPool) init(size int) {
	b.size = size
	b.pool.New = func() any {
		buf := make([]byte, size)
		return &buf
	}
}

func (b *bufPool) get() *[]byte  { return b.pool.Get().(*[]byte) }
func (b *bufPool) put(p *[]byte) { b.pool.Put(p) }
