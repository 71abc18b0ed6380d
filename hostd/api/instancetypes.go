package api

import "slices"

// InstanceType is one of EC2's instance type names that hostd knows: what its vCPUs and memory
// become as an instance's limits (--cpus and --memory). They are EC2's own figures for the type;
// hostd enforces them as cgroup limits, not as dedicated hardware.
type InstanceType struct {
	Name        string
	VCpus       int
	MemoryBytes int64
}

// InstanceTypes is the table, smallest first. Any other name is refused with
// InvalidParameterValue.
var InstanceTypes = []InstanceType{
	{"t3.nano", 2, 512 << 20},
	{"t3.micro", 2, 1 << 30},
	{"t3.small", 2, 2 << 30},
	{"t3.medium", 2, 4 << 30},
	{"t3.large", 2, 8 << 30},
	{"m5.large", 2, 8 << 30},
}

// DefaultInstanceType is what RunInstances without InstanceType gets (EC2 gives m1.small, which hostd has not).
const DefaultInstanceType = "t3.micro"

// LookupInstanceType finds a type by name, with EC2's error for one hostd does not have.
func LookupInstanceType(name string) (InstanceType, error) {
	i := slices.IndexFunc(InstanceTypes, func(t InstanceType) bool { return t.Name == name })
	if i < 0 {
		return InstanceType{}, Errorf(CodeInvalidParameterValue, "Invalid value '%s' for InstanceType: hostd has t3.nano, t3.micro, t3.small, t3.medium, t3.large and m5.large", name)
	}
	return InstanceTypes[i], nil
}
