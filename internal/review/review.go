// Package review is `cctv review`: a terminal interface for the console
// that shows every camera's activity over a window of time, with gaps,
// holds and bookmarks, and lets staff move through it with the arrow keys,
// play from the cursor (Enter), save a still (s, operator), bookmark the
// moment (m) and hold the window (h, supervisor). It asks the daemon for
// everything through a Client, so every request meets the daemon's roles
// and audit log; the session itself is audited as a view.
package review

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/council/cctv/api"
	"github.com/council/cctv/internal/termtext"
	"github.com/council/cctv/internal/timeline"
)

// Client is what review asks the daemon.
type Client interface {
	Cameras(ctx context.Context) ([]string, error)
	Activity(ctx context.Context, r api.ActivityRequest) (api.Activity, error)
	AddMark(ctx context.Context, r api.MarkAddRequest) (api.Mark, error)
	AddHold(ctx context.Context, r api.HoldAddRequest) (api.Hold, error)
	Log(ctx context.Context, r api.ReviewRequest) error
}

// Options configure a review session.
type Options struct {
	Client   Client         // required
	Location *time.Location // site time zone; default UTC
	// From is the start of the first window shown, where the cursor starts,
	// and Step the length of one cell; defaults: the hour before now (the
	// cursor at now), one minute.
	From time.Time
	Step time.Duration
	// Cells is the number of cells in a row; default 60.
	Cells  int
	Reason string // why staff look, for the audit log
	// Play returns the command that plays camera from..to (it gets the
	// terminal while it runs); Still the one that saves a still of camera
	// at at (its output is shown on the status line). Required.
	Play  func(camera string, from, to time.Time) *exec.Cmd
	Still func(camera string, at time.Time) *exec.Cmd
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Run shows the interface on the terminal until the person quits (q), and
// audits the session's start and end as a view.
func Run(ctx context.Context, o Options, opts ...tea.ProgramOption) error {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Step <= 0 {
		o.Step = time.Minute
	}
	if o.Cells <= 0 {
		o.Cells = 60
	}
	col := 0 // the cursor starts at From, or at now without one
	if o.From.IsZero() {
		o.From = o.Now().Add(-time.Duration(o.Cells) * o.Step).Truncate(o.Step)
		col = o.Cells - 1
	}
	cams, err := o.Client.Cameras(ctx)
	if err != nil {
		return err
	}
	if len(cams) == 0 {
		return fmt.Errorf("no cameras to review")
	}
	m := &model{o: o, ctx: ctx, cams: cams, from: o.From, step: o.Step, col: col, acts: map[string]api.Activity{}}
	began := o.Now()
	if err := o.Client.Log(ctx, api.ReviewRequest{Phase: "start", Cameras: cams, From: m.from, To: m.to(), Reason: o.Reason}); err != nil {
		return err
	}
	_, runErr := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, opts...)...).Run()
	endErr := o.Client.Log(context.WithoutCancel(ctx), api.ReviewRequest{Phase: "end", Cameras: cams, From: m.seenFrom, To: m.seenTo,
		Reason: o.Reason, WatchedS: o.Now().Sub(began).Seconds()})
	if runErr != nil {
		return runErr
	}
	return endErr
}

// model is the interface's state.
type model struct {
	o    Options
	ctx  context.Context
	cams []string
	acts map[string]api.Activity

	from     time.Time
	step     time.Duration
	row, col int
	loading  bool
	status   string
	prompt   *prompt
	seenFrom time.Time // the span of the windows shown, for the audit log
	seenTo   time.Time
}

// prompt is a line of text being typed; then takes it.
type prompt struct {
	label string
	text  string
	then  func(string) tea.Cmd
}

type loadedMsg struct {
	from time.Time
	step time.Duration
	acts map[string]api.Activity
	err  error
}

type statusMsg struct {
	text   string
	reload bool
}

func (m *model) to() time.Time { return m.from.Add(time.Duration(m.o.Cells) * m.step) }

// at is the instant under the cursor.
func (m *model) at() time.Time { return m.from.Add(time.Duration(m.col) * m.step) }

func (m *model) camera() string { return m.cams[m.row] }

// Init loads the first window.
func (m *model) Init() tea.Cmd { return m.load() }

// load asks for the activity of every camera in the window.
func (m *model) load() tea.Cmd {
	from, step, to := m.from, m.step, m.to()
	if m.seenFrom.IsZero() || from.Before(m.seenFrom) {
		m.seenFrom = from
	}
	if to.After(m.seenTo) {
		m.seenTo = to
	}
	m.loading = true
	ctx, client, cams := m.ctx, m.o.Client, m.cams
	return func() tea.Msg {
		acts := map[string]api.Activity{}
		for _, c := range cams {
			a, err := client.Activity(ctx, api.ActivityRequest{Camera: c, From: from, To: to, Step: step})
			if err != nil {
				return loadedMsg{from: from, step: step, err: err}
			}
			acts[c] = a
		}
		return loadedMsg{from: from, step: step, acts: acts}
	}
}

// Update handles keys and answers.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case loadedMsg:
		if !msg.from.Equal(m.from) || msg.step != m.step {
			return m, nil // an answer for a window no longer shown
		}
		m.loading = false
		if msg.err != nil {
			m.status = "error: " + msg.err.Error()
			return m, nil
		}
		m.acts = msg.acts
	case statusMsg:
		m.status = msg.text
		if msg.reload {
			return m, m.load()
		}
	case tea.KeyMsg:
		if m.prompt != nil {
			return m, m.typing(msg)
		}
		return m, m.key(msg)
	}
	return m, nil
}

// typing edits the prompt's line.
func (m *model) typing(k tea.KeyMsg) tea.Cmd {
	p := m.prompt
	switch k.Type {
	case tea.KeyEsc, tea.KeyCtrlC:
		m.prompt, m.status = nil, "cancelled"
	case tea.KeyEnter:
		m.prompt = nil
		return p.then(strings.TrimSpace(p.text))
	case tea.KeyBackspace:
		if r := []rune(p.text); len(r) > 0 {
			p.text = string(r[:len(r)-1])
		}
	case tea.KeyRunes, tea.KeySpace:
		if len(p.text) < api.MaxText/2 {
			p.text += string(k.Runes)
		}
	}
	return nil
}

// key acts on a key outside a prompt.
func (m *model) key(k tea.KeyMsg) tea.Cmd {
	switch k.String() {
	case "q", "ctrl+c", "esc":
		return tea.Quit
	case "left":
		if m.col > 0 {
			m.col--
			return nil
		}
		m.from, m.col = m.from.Add(-m.step), 0
		return m.load()
	case "right":
		if m.col < m.o.Cells-1 {
			m.col++
			return nil
		}
		m.from = m.from.Add(m.step)
		return m.load()
	case "up":
		m.row = max(m.row-1, 0)
	case "down":
		m.row = min(m.row+1, len(m.cams)-1)
	case "pgup", "<":
		m.from = m.from.Add(-time.Duration(m.o.Cells) * m.step)
		return m.load()
	case "pgdown", ">":
		m.from = m.from.Add(time.Duration(m.o.Cells) * m.step)
		return m.load()
	case "+", "-":
		at := m.at()
		step := m.step * 2
		if k.String() == "+" {
			step = max(m.step/2, time.Second).Truncate(time.Second)
		}
		m.step = step
		m.from = at.Add(-time.Duration(m.col) * step)
		return m.load()
	case "enter":
		cam, at := m.camera(), m.at()
		to := m.to()
		if !to.After(at) {
			to = at.Add(m.step)
		}
		m.status = fmt.Sprintf("playing %s from %s", cam, at.In(m.o.Location).Format("2006-01-02 15:04:05 MST"))
		return tea.ExecProcess(m.o.Play(cam, at, to), func(err error) tea.Msg {
			if err != nil {
				return statusMsg{text: "play: " + err.Error()}
			}
			return statusMsg{text: fmt.Sprintf("played %s from %s", cam, at.In(m.o.Location).Format("15:04:05 MST"))}
		})
	case "s":
		cmd := m.o.Still(m.camera(), m.at())
		m.status = "saving a still…"
		return func() tea.Msg {
			out, err := cmd.CombinedOutput()
			text := strings.TrimSpace(string(out))
			if i := strings.LastIndex(text, "\n"); i >= 0 && err == nil {
				text = text[i+1:]
			}
			if err != nil && text == "" {
				text = err.Error()
			}
			return statusMsg{text: "still: " + strings.ReplaceAll(text, "\n", " / ")}
		}
	case "m":
		cam, at := m.camera(), m.at()
		m.prompt = &prompt{label: fmt.Sprintf("bookmark %s at %s, note: ", cam, at.In(m.o.Location).Format("15:04:05")), then: func(note string) tea.Cmd {
			return m.ask(func(ctx context.Context) (string, error) {
				mk, err := m.o.Client.AddMark(ctx, api.MarkAddRequest{Camera: cam, At: at, Note: note})
				return "bookmark " + mk.ID + " added", err
			})
		}}
	case "h":
		cam, from, to := m.camera(), m.from, m.to()
		m.prompt = &prompt{label: fmt.Sprintf("hold %s %s to %s, case reference: ", cam, from.In(m.o.Location).Format("15:04"), to.In(m.o.Location).Format("15:04")), then: func(ref string) tea.Cmd {
			m.prompt = &prompt{label: "reason for the hold: ", then: func(reason string) tea.Cmd {
				return m.ask(func(ctx context.Context) (string, error) {
					h, err := m.o.Client.AddHold(ctx, api.HoldAddRequest{Camera: cam, From: from, To: to, Case: ref, Reason: reason})
					return "hold " + h.ID + " placed", err
				})
			}}
			return nil
		}}
	}
	return nil
}

// ask runs a request and shows its outcome, reloading the window after a
// change.
func (m *model) ask(fn func(ctx context.Context) (string, error)) tea.Cmd {
	ctx := m.ctx
	return func() tea.Msg {
		text, err := fn(ctx)
		if err != nil {
			msg := err.Error()
			if e, ok := err.(*api.Error); ok && len(e.Hints) > 0 {
				msg += " (" + strings.Join(e.Hints, "; ") + ")"
			}
			return statusMsg{text: "refused: " + msg}
		}
		return statusMsg{text: text, reload: true}
	}
}

var (
	bold   = lipgloss.NewStyle().Bold(true)
	cursor = lipgloss.NewStyle().Reverse(true)
	faint  = lipgloss.NewStyle().Faint(true)
)

// View draws the screen.
func (m *model) View() string {
	var b strings.Builder
	loc := m.o.Location
	layout := "15:04"
	if m.step < time.Minute {
		layout = "15:04:05"
	}
	fmt.Fprintf(&b, "%s  %s to %s, one cell per %s\n", bold.Render("cctv review"),
		m.from.In(loc).Format("2006-01-02 "+layout), m.to().In(loc).Format(layout+" MST"), m.step)
	width := 0
	for _, c := range m.cams {
		width = max(width, len(c))
	}
	axis := []rune(strings.Repeat(" ", m.o.Cells+8))
	for i := 0; i < m.o.Cells; i += 15 {
		copy(axis[i:], []rune(m.from.Add(time.Duration(i)*m.step).In(loc).Format(layout)))
	}
	fmt.Fprintf(&b, "%*s %s\n", width, "", strings.TrimRight(string(axis), " "))
	for r, c := range m.cams {
		label := fmt.Sprintf("%-*s", width, c)
		if r == m.row {
			label = bold.Render(label)
		}
		a, ok := m.acts[c]
		if !ok || len(a.Cells) != m.o.Cells {
			fmt.Fprintf(&b, "%s %s\n\n", label, faint.Render("loading…"))
			continue
		}
		g := timeline.Glyphs(a)
		var row strings.Builder
		for i, ch := range g {
			if r == m.row && i == m.col {
				row.WriteString(cursor.Render(string(ch)))
			} else {
				row.WriteRune(ch)
			}
		}
		fmt.Fprintf(&b, "%s %s\n%*s %s\n", label, row.String(), width, "", string(timeline.Marks(a)))
	}
	at := m.at()
	line := fmt.Sprintf("cursor: %s at %s", m.camera(), at.In(loc).Format("2006-01-02 15:04:05 MST"))
	if a, ok := m.acts[m.camera()]; ok && m.col < len(a.Cells) {
		c := a.Cells[m.col]
		if c.Seconds == 0 {
			line += ", nothing recorded"
		} else {
			line += fmt.Sprintf(", activity %d B/s", c.BytesPerS)
		}
		for _, g := range a.Gaps {
			if !at.Before(g.From) && at.Before(g.To) {
				line += " (gap: " + termtext.Esc(g.Reason) + ")"
			}
		}
		for _, mk := range a.Marks {
			if !mk.At.Before(at) && mk.At.Before(at.Add(m.step)) {
				line += " bookmark " + mk.ID + ": " + termtext.Esc(mk.Note)
			}
		}
	}
	fmt.Fprintln(&b, line)
	switch {
	case m.prompt != nil:
		fmt.Fprintf(&b, "%s%s_\n", m.prompt.label, m.prompt.text)
	case m.loading:
		fmt.Fprintln(&b, faint.Render("loading…"))
	default:
		fmt.Fprintln(&b, m.status)
	}
	fmt.Fprintln(&b, faint.Render("←→ move  ↑↓ camera  +/- zoom  </> page  Enter play  s still  m bookmark  h hold  q quit;  ^ bookmark  = held  · nothing recorded"))
	return b.String()
}
