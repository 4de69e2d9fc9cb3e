package main

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// envRunMain makes the test binary behave as the cctv binary, so tests can
// run `cctv record` as a real child process and kill it.
const envRunMain = "CCTV_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHog); mode != "" {
		os.Exit(hog(mode, os.Args[1:]))
	}
	if os.Getenv(envRunMain) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, append([]string{"cctv"}, os.Args[1:]...), os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){
		"cctv": func() {
			code := run(context.Background(), os.Args, os.Stdout, os.Stderr)
			// Keep the exit code for the script's exitcode command: testscript's
			// "!" only tells zero from non-zero, and 1 versus 2 matters here.
			_ = os.WriteFile(".exitcode", []byte(strconv.Itoa(code)), 0o644)
			os.Exit(code)
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Config files in scripts say $WORK for the script's directory.
			files, _ := filepath.Glob(filepath.Join(env.WorkDir, "*.toml"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				if err := os.WriteFile(f, []byte(strings.ReplaceAll(string(b), "$WORK", env.WorkDir)), 0o600); err != nil {
					return err
				}
			}
			env.Setenv("CCTV_CONFIG", filepath.Join(env.WorkDir, "cctv.toml"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 1 {
					ts.Fatalf("usage: exitcode N")
				}
				got := strings.TrimSpace(ts.ReadFile(".exitcode"))
				if (got == args[0]) == neg {
					ts.Fatalf("exit code %s, want %s%s", got, map[bool]string{true: "not ", false: ""}[neg], args[0])
				}
			},
		},
	})
}
