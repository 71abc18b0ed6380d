package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hostd/hostd/hostd/api"
)

func cmdVolume(g *globals, args []string) error {
	return runVerb(g, "volume", args, map[string]func(*globals, []string) error{
		"create": volumeCreate, "describe": volumeDescribe, "delete": volumeDelete,
		"attach": volumeAttach, "detach": volumeDetach,
	})
}

func volumeCreate(g *globals, args []string) error {
	fs := newFlags("volume create")
	g.accountFlag(fs)
	size := fs.String("size", "", "the volume's size (SIZE, a whole number of MiB)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *size == "" {
		return api.Errorf(api.CodeMissingParameter, "--size is required")
	}
	n, err := api.ParseSizeFlag("--size", *size)
	if err != nil {
		return err
	}
	var out api.Volume
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/volumes", api.CreateVolumeRequest{Size: n}, &out); err != nil {
		return err
	}
	return g.print(out)
}

func volumeDescribe(g *globals, args []string) error {
	return describeVerb(g, "volume describe", "/v1/volumes", api.VolumeID, args, &api.DescribeVolumesResponse{})
}

func volumeDelete(g *globals, args []string) error {
	return deleteVerb(g, "volume delete", "/v1/volumes/", api.VolumeID, args)
}

func volumeAttach(g *globals, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: hostd volume attach VOL --instance ID [--device /dev/NAME]")
	}
	fs := newFlags("volume attach")
	var req api.AttachVolumeRequest
	fs.StringVar(&req.InstanceId, "instance", "", "the running instance")
	fs.StringVar(&req.Device, "device", "/dev/xvdf", "the device path in the instance")
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if req.InstanceId == "" {
		return api.Errorf(api.CodeMissingParameter, "--instance is required")
	}
	if err := api.VolumeID.Check(args[0]); err != nil {
		return err
	}
	if err := api.InstanceID.Check(req.InstanceId); err != nil {
		return err
	}
	var out api.VolumeAttachment
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/volumes/"+url.PathEscape(args[0])+"/attach", req, &out); err != nil {
		return err
	}
	return g.print(out)
}

func volumeDetach(g *globals, args []string) error {
	fs := newFlags("volume detach")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: hostd volume detach VOL")
	}
	if err := api.VolumeID.Check(fs.Arg(0)); err != nil {
		return err
	}
	var out api.ReturnResponse
	if err := client(g).Call(context.Background(), http.MethodPost, "/v1/volumes/"+url.PathEscape(fs.Arg(0))+"/detach", nil, &out); err != nil {
		return err
	}
	return g.print(out)
}

// volumeFlags collects repeated --volume VOL:/dev/NAME flags.
type volumeFlags []api.VolumeMapping

func (v *volumeFlags) String() string { return fmt.Sprint(*v) }

func (v *volumeFlags) Set(s string) error {
	id, dev, ok := strings.Cut(s, ":")
	if !ok || id == "" || dev == "" {
		return fmt.Errorf("%q: give VOL:/dev/NAME", s)
	}
	*v = append(*v, api.VolumeMapping{VolumeId: id, Device: dev})
	return nil
}
