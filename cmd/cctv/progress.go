package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows what a long export is doing, on a terminal only: the time
// spent while the recorder builds the package, then the bytes received.
type progress struct {
	w          io.Writer
	done       atomic.Int64
	total      atomic.Int64
	start      time.Time
	quit, gone chan struct{}
	once       sync.Once
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, start: time.Now(), quit: make(chan struct{}), gone: make(chan struct{})}
	if !isTerminal(w) {
		close(p.gone)
		return p
	}
	go p.run()
	return p
}

func (p *progress) run() {
	defer close(p.gone)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			fmt.Fprint(p.w, "\r\033[K")
			return
		case <-t.C:
			elapsed := time.Since(p.start).Round(time.Second)
			if total := p.total.Load(); total > 0 {
				fmt.Fprintf(p.w, "\r\033[Kreceiving the package: %.1f of %.1f MB (%s)", float64(p.done.Load())/1e6, float64(total)/1e6, elapsed)
			} else {
				fmt.Fprintf(p.w, "\r\033[Kthe recorder is building and signing the package (%s)", elapsed)
			}
		}
	}
}

// reader counts what is read through it.
func (p *progress) reader(r io.Reader) io.Reader { return &countingReader{r: r, n: &p.done} }

func (p *progress) stop() {
	p.once.Do(func() { close(p.quit) })
	<-p.gone
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
