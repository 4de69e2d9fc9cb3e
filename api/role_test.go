package api

import (
	"os"
	"testing"
)

func TestRole_String(t *testing.T) {
	for r, want := range map[Role]string{RoleNone: "none", RoleViewer: "viewer", RoleOperator: "operator", RoleSupervisor: "supervisor", 7: "role(7)"} {
		if got := r.String(); got != want {
			t.Errorf("Role(%d).String() = %q, want %q", int(r), got, want)
		}
	}
}

func TestRoleFor(t *testing.T) {
	g := Groups{Viewer: "v", Operator: "o", Supervisor: "s"}
	tests := []struct {
		name   string
		uid    int
		groups []string
		g      Groups
		want   Role
	}{
		{"root without groups", 0, nil, g, RoleSupervisor},
		{"no groups", 1000, nil, g, RoleNone},
		{"unrelated groups", 1000, []string{"users", "audio"}, g, RoleNone},
		{"viewer", 1000, []string{"users", "v"}, g, RoleViewer},
		{"operator without viewer", 1000, []string{"o"}, g, RoleOperator},
		{"highest wins", 1000, []string{"v", "s", "o"}, g, RoleSupervisor},
		{"empty group name grants nothing", 1000, []string{""}, Groups{}, RoleNone},
		{"unconfigured role skipped", 1000, []string{"v", "o"}, Groups{Viewer: "v", Operator: "o"}, RoleOperator},
		{"case matters", 1000, []string{"V"}, g, RoleNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RoleFor(tc.uid, tc.groups, tc.g); got != tc.want {
				t.Errorf("RoleFor(%d, %q) = %s, want %s", tc.uid, tc.groups, got, tc.want)
			}
		})
	}
}

func TestLookupCaller_Unknown(t *testing.T) {
	for _, uid := range []int{-1, 3999999} {
		if c, err := LookupCaller(uid, 0, 1, testGroups); err == nil {
			t.Errorf("LookupCaller(%d) = %+v, want an error", uid, c)
		}
	}
}

func TestCurrentCaller(t *testing.T) {
	c, err := CurrentCaller(testGroups)
	if err != nil {
		t.Fatal(err)
	}
	if c.UID != os.Geteuid() || c.GID != os.Getegid() || c.PID != os.Getpid() || c.User == "" || len(c.Groups) == 0 {
		t.Errorf("CurrentCaller = %+v", c)
	}
	if os.Geteuid() == 0 && (c.User != "root" || c.Role != RoleSupervisor) {
		t.Errorf("as root: %+v, want root supervisor", c)
	}
}
