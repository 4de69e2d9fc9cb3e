package api

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// Role is what a caller may do. Roles are ordered, lowest first, and each
// includes the ones below it.
type Role int

const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
	RoleSupervisor
)

func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleViewer:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleSupervisor:
		return "supervisor"
	}
	return "role(" + strconv.Itoa(int(r)) + ")"
}

// Groups maps roles to Unix group names (the config's [access] table). An
// empty name means no group grants that role.
type Groups struct {
	Viewer, Operator, Supervisor string
}

// group returns the name of the group that grants r.
func (g Groups) group(r Role) string {
	switch r {
	case RoleViewer:
		return g.Viewer
	case RoleOperator:
		return g.Operator
	case RoleSupervisor:
		return g.Supervisor
	}
	return ""
}

// Caller is who is on the other end of a connection, as the kernel says.
type Caller struct {
	UID, GID, PID int
	User          string
	Groups        []string // names of the user's groups, primary first
	Role          Role
}

// RoleFor returns the role of a user: root (uid 0) is supervisor; anyone
// else gets the highest role whose group is among groups (primary or
// supplementary group names).
func RoleFor(uid int, groups []string, g Groups) Role {
	if uid == 0 {
		return RoleSupervisor
	}
	for r := RoleSupervisor; r > RoleNone; r-- {
		name := g.group(r)
		if name == "" {
			continue
		}
		for _, have := range groups {
			if have == name {
				return r
			}
		}
	}
	return RoleNone
}

// LookupCaller resolves uid to a user name and the names of that user's
// groups in the user database, and works out the role. gid and pid are
// recorded as given. Any failure to resolve the user or to read the group
// database is an error: callers must treat it as "cannot identify".
// A group id without a name is skipped, since it cannot match a role.
func LookupCaller(uid, gid, pid int, g Groups) (Caller, error) {
	if uid < 0 {
		return Caller{}, fmt.Errorf("look up uid %d: invalid uid", uid)
	}
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return Caller{}, fmt.Errorf("look up uid %d: %w", uid, err)
	}
	ids, err := u.GroupIds()
	if err != nil {
		return Caller{}, fmt.Errorf("look up groups of %s: %w", u.Username, err)
	}
	names := make([]string, 0, len(ids))
	for _, id := range ids {
		grp, err := user.LookupGroupId(id)
		var unknown user.UnknownGroupIdError
		if errors.As(err, &unknown) {
			continue
		}
		if err != nil {
			return Caller{}, fmt.Errorf("look up group %s of %s: %w", id, u.Username, err)
		}
		names = append(names, grp.Name)
	}
	return Caller{
		UID: uid, GID: gid, PID: pid,
		User:   u.Username,
		Groups: names,
		Role:   RoleFor(uid, names, g),
	}, nil
}

// CurrentCaller is LookupCaller for this process (effective uid and gid), for
// when the CLI works on the store directly because the daemon is down.
func CurrentCaller(g Groups) (Caller, error) {
	return LookupCaller(os.Geteuid(), os.Getegid(), os.Getpid(), g)
}
