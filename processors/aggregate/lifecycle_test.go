package aggregate

import (
	"errors"
	"strings"
	"testing"
)

type counter struct{ N int }

func TestGenesisThenTransition(t *testing.T) {
	var l Lifecycle[counter]
	if !errors.Is(l.Check(), ErrUninitialized) || l.CheckGenesis() != nil {
		t.Fatal("fresh lifecycle checks")
	}
	l = Genesis(l, "Created", func() (counter, error) { return counter{N: 1}, nil })
	if l.Status != Live || l.Version != 1 || l.State.N != 1 {
		t.Fatalf("after genesis: %+v", l)
	}
	if !errors.Is(l.CheckGenesis(), ErrAlreadyInitialized) {
		t.Fatal("genesis allowed on live")
	}
	l = Transition(l, "Bumped", func(c counter) (counter, error) { c.N++; return c, nil })
	if l.Version != 2 || l.State.N != 2 {
		t.Fatalf("after transition: %+v", l)
	}
}

func TestTransitionErrorFailsAndKeepsLastValidState(t *testing.T) {
	l := Genesis(Lifecycle[counter]{}, "Created", func() (counter, error) { return counter{N: 7}, nil })
	l = Transition(l, "Overflowed", func(counter) (counter, error) { return counter{N: -1}, errors.New("overflow") })
	if l.Status != Failed || l.State.N != 7 || !strings.Contains(l.Failure, "overflow") {
		t.Fatalf("failed lifecycle: %+v", l)
	}
	var fe *FailedError
	if err := l.Check(); !errors.As(err, &fe) || !strings.Contains(fe.Reason, "Overflowed") {
		t.Fatalf("Check on failed: %v", err)
	}
	// Once failed, later events are ignored but still counted.
	l = Transition(l, "Bumped", func(c counter) (counter, error) { c.N++; return c, nil })
	if l.Status != Failed || l.State.N != 7 || l.Version != 3 {
		t.Fatalf("failed must stay failed: %+v", l)
	}
}

func TestMismatchedEventsFail(t *testing.T) {
	l := Transition(Lifecycle[counter]{}, "Bumped", func(c counter) (counter, error) { return c, nil })
	if l.Status != Failed || !strings.Contains(l.Failure, "uninitialized") {
		t.Fatalf("transition on uninitialized: %+v", l)
	}
	live := Genesis(Lifecycle[counter]{}, "Created", func() (counter, error) { return counter{}, nil })
	again := Genesis(live, "Created", func() (counter, error) { return counter{}, nil })
	if again.Status != Failed || !strings.Contains(again.Failure, "already initialized") {
		t.Fatalf("second genesis: %+v", again)
	}
}

type bump struct {
	By int `json:"by"`
}

func (bump) EventType() string   { return "Bumped" }
func (bump) CommandType() string { return "Bump" }

func TestDecoderRejectsUnknownFieldsAndTypes(t *testing.T) {
	d := Decoder[Event]{"Bumped": As[bump, Event]}
	e, err := d.Decode("Bumped", []byte(`{"by":3}`))
	if err != nil || e.(bump).By != 3 {
		t.Fatalf("decode: %v %v", e, err)
	}
	if _, err := d.Decode("Bumped", []byte(`{"by":3,"extra":1}`)); err == nil {
		t.Fatal("unknown field accepted")
	}
	if _, err := d.Decode("Nope", []byte(`{}`)); err == nil || !strings.Contains(err.Error(), "Nope") {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := d.Decode("Bumped", []byte(`{"by":1}}`)); err == nil {
		t.Fatal("stray brace accepted")
	}
	if _, err := d.Decode("Bumped", []byte(`{"by":1} {}`)); err == nil {
		t.Fatal("trailing data accepted")
	}
}

func TestExecuteFoldsEvents(t *testing.T) {
	def := Definition[counter]{
		Decide: func(l Lifecycle[counter], c Command, m Meta) ([]Event, error) {
			if c.(bump).By < 0 {
				return nil, errors.New("negative")
			}
			return []Event{c.(bump), c.(bump)}, nil
		},
		Evolve: func(l Lifecycle[counter], e Event) Lifecycle[counter] {
			if l.Status == Uninitialized {
				return Genesis(l, e.EventType(), func() (counter, error) { return counter{N: e.(bump).By}, nil })
			}
			return Transition(l, e.EventType(), func(s counter) (counter, error) { s.N += e.(bump).By; return s, nil })
		},
	}
	l, evs, err := Execute(def, Lifecycle[counter]{}, bump{By: 2}, Meta{})
	if err != nil || len(evs) != 2 || l.State.N != 4 || l.Version != 2 {
		t.Fatalf("execute: %+v %v %v", l, evs, err)
	}
	if r := Replay(def, evs); r != l {
		t.Fatalf("replay %+v != %+v", r, l)
	}
	if l2, evs, err := Execute(def, l, bump{By: -1}, Meta{}); err == nil || evs != nil || l2 != l {
		t.Fatal("rejected command must leave state unchanged")
	}
}
