package rain

import (
	"encoding/binary"
	"fmt"
)

// checkOpaque bounds-checks the parts the decoding shape skips (each
// order's evaluable, a TakeOrder's signedContext): every offset and length
// inside the data. So a truncated or corrupt log fails as a whole, as with
// the full ABI, while the walk stays linear (nothing is allocated and no
// offset is followed twice per head).
func checkOpaque(kind Kind, data []byte) error {
	w := words(data)
	switch kind {
	case KindTakeOrder:
		cfg, err := w.ref(0, 32) // config
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		order, err := w.ref(cfg, cfg)
		if err != nil {
			return fmt.Errorf("config.order: %w", err)
		}
		if err := w.evaluable(order); err != nil {
			return fmt.Errorf("config.order.evaluable: %w", err)
		}
		if err := w.signedContext(cfg); err != nil {
			return fmt.Errorf("config.signedContext: %w", err)
		}
	case KindClear:
		for i, name := range []string{"alice", "bob"} {
			order, err := w.ref(0, 32*(i+1))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := w.evaluable(order); err != nil {
				return fmt.Errorf("%s.evaluable: %w", name, err)
			}
		}
	}
	return nil
}

type words []byte

// word reads the 32-byte word at i as a non-negative int no larger than
// the data (every offset and length in a valid encoding is).
func (w words) word(i int) (int, error) {
	if i < 0 || i > len(w)-32 {
		return 0, fmt.Errorf("word at %d past the end (%d bytes)", i, len(w))
	}
	for _, b := range w[i : i+24] {
		if b != 0 {
			return 0, fmt.Errorf("offset or length 0x%x at %d exceeds the data (%d bytes)", []byte(w[i:i+32]), i, len(w))
		}
	}
	v := binary.BigEndian.Uint64(w[i+24 : i+32])
	if v > uint64(len(w)) {
		return 0, fmt.Errorf("offset or length %d at %d exceeds the data (%d bytes)", v, i, len(w))
	}
	return int(v), nil
}

// ref resolves the offset word at head, relative to base (the start of
// the enclosing tuple).
func (w words) ref(base, head int) (int, error) {
	off, err := w.word(head)
	if err != nil {
		return 0, err
	}
	return base + off, nil
}

// span checks that n bytes from start are inside the data.
func (w words) span(start, n int) error {
	if start < 0 || n < 0 || start > len(w) || n > len(w)-start {
		return fmt.Errorf("%d bytes at %d past the end (%d bytes)", n, start, len(w))
	}
	return nil
}

// bytesAt checks a length-prefixed bytes value at p.
func (w words) bytesAt(p int) error {
	n, err := w.word(p)
	if err != nil {
		return err
	}
	return w.span(p+32, n)
}

// evaluable checks EvaluableV3/V4 (interpreter, store, bytes bytecode) of
// the order tuple at order.
func (w words) evaluable(order int) error {
	ev, err := w.ref(order, order+32)
	if err != nil {
		return err
	}
	if err := w.span(ev, 96); err != nil {
		return err
	}
	code, err := w.ref(ev, ev+64)
	if err != nil {
		return err
	}
	return w.bytesAt(code)
}

// signedContext checks the SignedContextV1[] of the TakeOrderConfig at cfg
// (its fourth component): signer, bytes32[] context, bytes signature.
func (w words) signedContext(cfg int) error {
	arr, err := w.ref(cfg, cfg+96)
	if err != nil {
		return err
	}
	n, err := w.word(arr)
	if err != nil {
		return err
	}
	heads := arr + 32
	if err := w.span(heads, 32*n); err != nil {
		return err
	}
	for i := range n {
		e, err := w.ref(heads, heads+32*i)
		if err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
		if err := w.span(e, 96); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
		ctx, err := w.ref(e, e+32)
		if err == nil {
			var m int
			if m, err = w.word(ctx); err == nil {
				err = w.span(ctx+32, 32*m)
			}
		}
		if err != nil {
			return fmt.Errorf("[%d].context: %w", i, err)
		}
		sig, err := w.ref(e, e+64)
		if err == nil {
			err = w.bytesAt(sig)
		}
		if err != nil {
			return fmt.Errorf("[%d].signature: %w", i, err)
		}
	}
	return nil
}
