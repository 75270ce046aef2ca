package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// timing is how long each kind of run lasts.
type timing struct {
	Warm   time.Duration // load runs before the measurement window opens
	Window time.Duration // the measured window
	Settle time.Duration // idle-memory runs: wait before reading RSS
}

// runBulk moves bytes over one connection through t as fast as possible, client -> backend
// (mode modeSink) or backend -> client (modeSource), and measures the steady state: the bytes
// the client wrote (or read) inside the window. When the window opens and closes the path's
// buffers are equally full, so bytes written = bytes delivered to within a few MB.
func runBulk(ctx context.Context, t target, mode byte, tm timing, pr probe) (metrics, error) {
	c, err := dial(ctx, t)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(tm.Warm + tm.Window + ioTimeout)); err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{mode}); err != nil {
		return nil, err
	}
	var moved atomic.Int64
	var stopping atomic.Bool
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 256<<10)
		for {
			var n int
			var err error
			if mode == modeSink {
				n, err = c.Write(buf)
			} else {
				n, err = c.Read(buf)
			}
			moved.Add(int64(n))
			if err != nil {
				if stopping.Load() {
					err = nil
				}
				errc <- err
				return
			}
		}
	}()
	wait := func(until time.Time) error {
		select {
		case err := <-errc:
			return fmt.Errorf("bulk transfer ended early: %v", err)
		default:
		}
		return sleepUntil(ctx, until)
	}
	start := time.Now()
	if err := wait(start.Add(tm.Warm)); err != nil {
		return nil, err
	}
	s0, b0 := pr.open(), moved.Load()
	if err := wait(s0.at.Add(tm.Window)); err != nil {
		return nil, err
	}
	s1, b1 := pr.take(), moved.Load()
	stopping.Store(true)
	c.Close()
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("bulk transfer ended early: %v", err)
	}
	m := metrics{}
	usage(s0, s1, m)
	m[mGbps] = float64(b1-b0) * 8 / s1.at.Sub(s0.at).Seconds() / 1e9
	m[mGbpsPerCore] = perCore(m[mGbps], m, tm.Window)
	return m, nil
}

// runPingPong runs conns connections through t, each sending size bytes and waiting for
// their echo, back to back. Every round trip that starts inside the window is one sample.
func runPingPong(ctx context.Context, t target, size, conns int, tm timing, pr probe) (metrics, error) {
	cs := make([]net.Conn, 0, conns)
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range conns {
		c, err := dial(ctx, t)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
		if _, err := c.Write([]byte{modeEcho}); err != nil {
			return nil, err
		}
	}
	t0 := time.Now().Add(tm.Warm)
	t1 := t0.Add(tm.Window)
	samples := make([][]time.Duration, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			if err := c.SetDeadline(t1.Add(ioTimeout)); err != nil {
				errs[i] = err
				return
			}
			msg, buf := make([]byte, size), make([]byte, size)
			got := make([]time.Duration, 0, 1<<14)
			for {
				s := time.Now()
				if !s.Before(t1) || ctx.Err() != nil {
					break
				}
				if _, err := c.Write(msg); err != nil {
					errs[i] = err
					break
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs[i] = err
					break
				}
				if !s.Before(t0) {
					got = append(got, time.Since(s))
				}
			}
			samples[i] = got
		})
	}
	var s0, s1 snapshot
	if err := sleepUntil(ctx, t0); err == nil {
		s0 = pr.open()
		if err := sleepUntil(ctx, t1); err == nil {
			s1 = pr.take()
		}
	}
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return nil, fmt.Errorf("ping-pong: %w", err)
	}
	all := slices.Concat(samples...)
	slices.Sort(all)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	m := metrics{}
	usage(s0, s1, m)
	m[mP50] = us(percentile(all, 0.50))
	m[mP99] = us(percentile(all, 0.99))
	m[mP999] = us(percentile(all, 0.999))
	m[mRTPS] = float64(len(all)) / tm.Window.Seconds()
	return m, nil
}

// runConnRate has workers open connections through t back to back: connect (and, for TLS, a
// handshake as t's profile does it), one 4-byte echo, close. Connections started inside the
// window count; for TLS, mResumed is the share of them that resumed a session.
func runConnRate(ctx context.Context, t target, workers int, tm timing, pr probe) (metrics, error) {
	t0 := time.Now().Add(tm.Warm)
	t1 := t0.Add(tm.Window)
	var ok, failed, resumes atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				s := time.Now()
				if !s.Before(t1) || ctx.Err() != nil {
					return
				}
				r, err := echoOnce(ctx, t, []byte("ping"))
				if s.Before(t0) {
					continue
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				ok.Add(1)
				if r {
					resumes.Add(1)
				}
			}
		})
	}
	var s0, s1 snapshot
	if err := sleepUntil(ctx, t0); err == nil {
		s0 = pr.open()
		if err := sleepUntil(ctx, t1); err == nil {
			s1 = pr.take()
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n := failed.Load(); n > ok.Load()/100 {
		return nil, fmt.Errorf("%d of %d connections failed, first: %v", n, n+ok.Load(), *firstErr.Load())
	}
	if ok.Load() == 0 {
		return nil, fmt.Errorf("no connection started in the %v window completed", tm.Window)
	}
	m := metrics{}
	usage(s0, s1, m)
	m[mCPS] = float64(ok.Load()) / tm.Window.Seconds()
	m[mCPSPerCore] = perCore(m[mCPS], m, tm.Window)
	m[mErrors] = float64(failed.Load())
	if t.TLS != nil {
		m[mResumed] = 100 * float64(resumes.Load()) / float64(ok.Load())
	}
	return m, nil
}

// idleOpeners is how many connections the idle-memory runs open at once.
const idleOpeners = 64

// runIdle opens n connections through t, each echoing one small message, leaves them idle and
// reads the proxy's RSS and fd count: (after - before) / n. With big, it then echoes 16 KiB on
// every connection and reads RSS again: a proxy that keeps its burst buffers shows it here.
func runIdle(ctx context.Context, t target, pid, n int, big bool, tm timing) (metrics, error) {
	if err := sleepUntil(ctx, time.Now().Add(tm.Settle)); err != nil {
		return nil, err
	}
	rss0, err := procRSS(pid)
	if err != nil {
		return nil, err
	}
	fds0, err := procFDs(pid)
	if err != nil {
		return nil, err
	}
	cs := make([]net.Conn, n)
	defer func() {
		for _, c := range cs {
			if c != nil {
				c.Close()
			}
		}
	}()
	small := append([]byte{modeEcho}, make([]byte, 63)...)
	if err := forEach(ctx, n, idleOpeners, func(i int) error {
		c, err := dial(ctx, t)
		if err != nil {
			return err
		}
		cs[i] = c
		return echo(c, small, len(small)-1)
	}); err != nil {
		return nil, fmt.Errorf("open %d idle connections: %w", n, err)
	}
	if err := sleepUntil(ctx, time.Now().Add(tm.Settle)); err != nil {
		return nil, err
	}
	m := metrics{mBaseMiB: float64(rss0) / (1 << 20), mKiB16K: math.NaN()}
	rss1, err := procRSS(pid)
	if err != nil {
		return nil, err
	}
	fds1, err := procFDs(pid)
	if err != nil {
		return nil, err
	}
	m[mKiB] = float64(rss1-rss0) / float64(n) / 1024
	m[mFDs] = float64(fds1-fds0) / float64(n)
	if !big {
		return m, nil
	}
	msg := make([]byte, 16<<10)
	if err := forEach(ctx, n, idleOpeners, func(i int) error { return echo(cs[i], msg, len(msg)) }); err != nil {
		return nil, fmt.Errorf("16 KiB echo on %d connections: %w", n, err)
	}
	if err := sleepUntil(ctx, time.Now().Add(tm.Settle)); err != nil {
		return nil, err
	}
	rss2, err := procRSS(pid)
	if err != nil {
		return nil, err
	}
	m[mKiB16K] = float64(rss2-rss0) / float64(n) / 1024
	return m, nil
}

// forEach calls f(0) ... f(n-1) from workers goroutines and returns the first error.
func forEach(ctx context.Context, n, workers int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, max(1, workers))
	for w := range errs {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					errs[w] = err
					next.Store(int64(n)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(append(errs, ctx.Err())...)
}
