package daemon

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/council/cctv/api"
	"github.com/council/cctv/internal/fsutil"
)

// diskUse is how the data disk is shared between footage, the index (with
// the audit log in it) and packages being exported.
type diskUse struct {
	free, total uint64 // of the file system, as statfs says
	index       uint64 // bytes of index.db
	budget      uint64 // what the index may take: index_budget of total
	staged      uint64 // bytes of packages staged for export
}

// diskUse measures the data disk now.
func (s *service) diskUse() (diskUse, error) {
	var u diskUse
	var err error
	if u.free, u.total, err = fsutil.FreeSpace(s.cfg.DataDir); err != nil {
		return u, err
	}
	if fi, err := os.Stat(filepath.Join(s.cfg.DataDir, "index.db")); err == nil {
		u.index = uint64(fi.Size())
	}
	u.budget = uint64(s.cfg.IndexBudget.Fraction() * float64(u.total))
	_ = filepath.WalkDir(s.stagingDir(), func(_ string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			if fi, err := de.Info(); err == nil {
				u.staged += uint64(fi.Size())
			}
		}
		return nil
	})
	return u, nil
}

// stagingDir is where the daemon builds packages before streaming them.
func (s *service) stagingDir() string { return filepath.Join(s.cfg.DataDir, "exports") }

// footageRoom is the free space that footage may use before disk pressure
// must delete: the index's unused budget is kept for the index, and a
// package being exported counts as free (it is gone once streamed). So
// neither the index growing within its budget nor an export ever makes
// disk pressure delete footage.
func (u diskUse) footageRoom() int64 {
	room := int64(u.free) + int64(u.staged)
	if u.index < u.budget {
		room -= int64(u.budget - u.index)
	}
	return room
}

// overBudget reports whether the index has reached its budget.
func (u diskUse) overBudget() bool { return u.budget > 0 && u.index >= u.budget }

// supervisorWhenOverBudget are the commands a supervisor may still run while
// the index is over its budget: enough to see what is wrong and to keep
// footage safe.
var supervisorWhenOverBudget = map[string]bool{
	api.CmdStatus: true, api.CmdList: true, api.CmdRetention: true, api.CmdAuditList: true, api.CmdAuditVerify: true,
	api.CmdHoldList: true, api.CmdHoldAdd: true, api.CmdHoldRelease: true, api.CmdTimeConfirm: true,
	api.CmdSAROpen: true, api.CmdSARList: true, api.CmdSARClose: true,
}

// admit refuses staff requests while the index is over its budget, so that
// requests can never grow it further; recording and its audit entries go
// on, and a supervisor can still look and place holds.
func (s *service) admit(c api.Caller, command string) *api.Error {
	u, err := s.diskUse()
	if err != nil || !u.overBudget() {
		return nil
	}
	if c.Role >= api.RoleSupervisor && supervisorWhenOverBudget[command] {
		return nil
	}
	return failed(fmt.Sprintf("the recording index is over its budget (%s of %s, index_budget %s of the data disk): staff requests are refused so that it cannot grow further; recording goes on",
		mb(u.index), mb(u.budget), s.cfg.IndexBudget),
		"a supervisor can still run status, list, audit and hold",
		"ask the supplier: the audit log and the index need room (raise index_budget, or a larger data disk)")
}

func mb(b uint64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }
