package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/council/cctv/internal/testutil"
)

// sysAccounts creates throwaway Unix groups and users, removed at cleanup.
type sysAccounts struct {
	t      *testing.T
	suffix string
}

func newSysAccounts(t *testing.T) *sysAccounts {
	t.Helper()
	testutil.NeedRoot(t, "it creates Unix users and groups")
	testutil.NeedTool(t, "useradd", "userdel", "groupadd", "groupdel")
	b := make([]byte, 3)
	rand.Read(b)
	return &sysAccounts{t: t, suffix: hex.EncodeToString(b)}
}

func (a *sysAccounts) run(name string, args ...string) {
	a.t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		a.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// group creates a group and returns its name and gid.
func (a *sysAccounts) group(base string) (string, int) {
	a.t.Helper()
	name := "ct-" + base + "-" + a.suffix
	a.run("groupadd", name)
	a.t.Cleanup(func() { exec.Command("groupdel", name).Run() })
	g, err := user.LookupGroup(name)
	if err != nil {
		a.t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	return name, gid
}

// sysUser is a throwaway user: its ids and the groups a login would give it.
type sysUser struct {
	Name     string
	UID, GID int
	Groups   []uint32 // supplementary, as at login
}

// user creates a user with its own primary group and the given
// supplementary groups.
func (a *sysAccounts) user(base string, groups ...string) sysUser {
	a.t.Helper()
	return a.userWith(base, []string{"--user-group"}, groups...)
}

// userWith creates a user with extra useradd options.
func (a *sysAccounts) userWith(base string, opts []string, groups ...string) sysUser {
	a.t.Helper()
	name := "ct-" + base + "-" + a.suffix
	args := append([]string{"--no-create-home", "--shell", "/usr/sbin/nologin"}, opts...)
	if len(groups) > 0 {
		args = append(args, "--groups", strings.Join(groups, ","))
	}
	a.run("useradd", append(args, name)...)
	a.t.Cleanup(func() {
		exec.Command("userdel", name).Run()
		exec.Command("groupdel", name).Run() // in case userdel kept the user's group
	})
	u, err := user.Lookup(name)
	if err != nil {
		a.t.Fatal(err)
	}
	su := sysUser{Name: name}
	su.UID, _ = strconv.Atoi(u.Uid)
	su.GID, _ = strconv.Atoi(u.Gid)
	ids, err := u.GroupIds()
	if err != nil {
		a.t.Fatal(err)
	}
	for _, id := range ids {
		n, _ := strconv.Atoi(id)
		su.Groups = append(su.Groups, uint32(n))
	}
	return su
}

// copyTestBinary puts this test binary where other users can run it.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(shortDir(t, "cctv-api-bin-"), "api.test")
	dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// callAs runs this test binary as u with the given process groups, as a
// client calling command on socket.
func callAs(t *testing.T, bin string, u sysUser, groups []uint32, socket, command string) (clientResult, int) {
	t.Helper()
	cmd := exec.CommandContext(callCtx(t), bin)
	cmd.Dir = "/"
	cmd.Env = []string{
		envClient + "=1", envSocket + "=" + socket, envCommand + "=" + command,
		"GORACE=atexit_sleep_ms=0", // under -race, skip the 1 s pause at exit
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: groups,
	}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatalf("run client as %s: %v", u.Name, err)
	}
	var res clientResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("client as %s printed %q (stderr %q): %v", u.Name, out, stderr.String(), err)
	}
	return res, code
}

func TestServer_RealUsers(t *testing.T) {
	acc := newSysAccounts(t)
	viewG, viewGID := acc.group("view")
	exportG, _ := acc.group("export")
	adminG, _ := acc.group("admin")
	groups := Groups{Viewer: viewG, Operator: exportG, Supervisor: adminG}
	viewer := acc.user("v", viewG)
	operator := acc.user("o", viewG, exportG)
	supervisor := acc.user("s", viewG, exportG, adminG)
	nobody := acc.user("n")

	cmds := []Command{
		{Name: "status", Role: RoleViewer, Handle: whoami},
		{Name: "export", Role: RoleOperator, Handle: whoami},
		{Name: "hold", Role: RoleSupervisor, Handle: whoami},
	}
	ts := startServer(t, serverSetup{Groups: groups, Commands: cmds}, nil) // the real peerCred and lookup
	bin := copyTestBinary(t)

	t.Run("socket mode and group", func(t *testing.T) {
		fi, err := os.Stat(ts.Path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o660 {
			t.Errorf("socket mode %v, want 0660", fi.Mode().Perm())
		}
		if gid := fi.Sys().(*syscall.Stat_t).Gid; int(gid) != viewGID {
			t.Errorf("socket group %d, want %d (%s)", gid, viewGID, viewG)
		}
	})

	need := map[string]struct{ role, group string }{
		"status": {"viewer", viewG}, "export": {"operator", exportG}, "hold": {"supervisor", adminG},
	}
	tests := []struct {
		name    string
		user    sysUser
		groups  []uint32 // the process's groups; nil: the user's own
		role    string
		allowed []string
		refused []string
	}{
		{"viewer", viewer, nil, "viewer", []string{"status"}, []string{"export", "hold"}},
		{"operator", operator, nil, "operator", []string{"status", "export"}, []string{"hold"}},
		{"supervisor", supervisor, nil, "supervisor", []string{"status", "export", "hold"}, nil},
		// Removed from the viewer group while still logged in: the process
		// still has the group (so the kernel lets it connect), but the
		// daemon reads the user database and refuses.
		{"no group, stale session", nobody, append(nobody.Groups, uint32(viewGID)), "none", nil, []string{"status", "export", "hold"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			groups := tc.groups
			if groups == nil {
				groups = tc.user.Groups
			}
			for _, cmd := range tc.allowed {
				res, code := callAs(t, bin, tc.user, groups, ts.Path, cmd)
				var who struct {
					UID  int
					User string
					Role string
				}
				json.Unmarshal(res.Data, &who)
				if code != 0 || !res.OK || who.UID != tc.user.UID || who.User != tc.user.Name || who.Role != tc.role {
					t.Errorf("%s: exit %d %+v (error %+v), want ok as %s (%d) %s", cmd, code, res, res.Error, tc.user.Name, tc.user.UID, tc.role)
				}
			}
			for _, cmd := range tc.refused {
				n := len(ts.Audit.all())
				res, code := callAs(t, bin, tc.user, groups, ts.Path, cmd)
				want := fmt.Sprintf("%q needs the %s role: add the user to group %s", cmd, need[cmd].role, need[cmd].group)
				if code != 1 || res.Error == nil || res.Error.Msg != want {
					t.Errorf("%s: exit %d %+v (error %+v), want code 1 %q", cmd, code, res, res.Error, want)
				}
				recs := ts.Audit.all()
				if len(recs) != n+1 {
					t.Fatalf("%s: audit grew by %d, want 1", cmd, len(recs)-n)
				}
				wantRec := auditRec{
					UID: tc.user.UID, User: tc.user.Name, Command: cmd, Args: `{"from":"client"}`,
					Result: fmt.Sprintf("refused: needs %s (group %s)", need[cmd].role, need[cmd].group),
				}
				if recs[n] != wantRec {
					t.Errorf("%s: audit %+v, want %+v", cmd, recs[n], wantRec)
				}
			}
		})
	}

	t.Run("no group: the kernel keeps them out", func(t *testing.T) {
		n := len(ts.Audit.all())
		res, code := callAs(t, bin, nobody, nobody.Groups, ts.Path, "status")
		if code != 1 || res.Error == nil || !strings.Contains(res.Error.Msg, "permission denied") ||
			!strings.Contains(strings.Join(res.Error.Hints, "\n"), "add you to group "+viewG) {
			t.Errorf("exit %d %+v (error %+v), want permission denied naming group %s", code, res, res.Error, viewG)
		}
		if recs := ts.Audit.all(); len(recs) != n {
			t.Errorf("audit grew by %d; the daemon never saw the request", len(recs)-n)
		}
	})

	t.Run("daemon down", func(t *testing.T) {
		res, code := callAs(t, bin, viewer, viewer.Groups, filepath.Join(filepath.Dir(ts.Path), "other.sock"), "status")
		if code != 1 || !res.DaemonDown {
			t.Errorf("exit %d %+v, want daemon down", code, res)
		}
	})

	t.Run("LookupCaller", func(t *testing.T) {
		exportOnly := acc.user("e", exportG)
		adminPrimary := acc.userWith("p", []string{"--no-user-group", "--gid", adminG})
		tests := []struct {
			name    string
			user    sysUser
			want    Role
			primary string
		}{
			{"viewer", viewer, RoleViewer, viewer.Name},
			{"operator", operator, RoleOperator, operator.Name},
			{"supervisor", supervisor, RoleSupervisor, supervisor.Name},
			{"no group", nobody, RoleNone, nobody.Name},
			{"operator group only", exportOnly, RoleOperator, exportOnly.Name},
			{"supervisor group as primary", adminPrimary, RoleSupervisor, adminG},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				c, err := LookupCaller(tc.user.UID, tc.user.GID, 1, groups)
				if err != nil {
					t.Fatal(err)
				}
				if c.User != tc.user.Name || c.UID != tc.user.UID || c.Role != tc.want || len(c.Groups) != len(tc.user.Groups) || c.Groups[0] != tc.primary {
					t.Errorf("LookupCaller = %+v, want %s with %d groups (%s first), role %s", c, tc.user.Name, len(tc.user.Groups), tc.primary, tc.want)
				}
			})
		}
	})
}
