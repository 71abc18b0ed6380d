package ec2query

// The shapes of EC2's model for network ACLs: each type is named as botocore's
// model names the shape, each field as its member, each tag as its locationName (see fields.go);
// model_test.go holds them to the model. Request types list every member of the model, hostd's
// or Unsupported; output types only what hostd fills in.

// CreateNetworkAcl

type CreateNetworkAclRequest struct {
	ClientToken       string             `ec2:",newer"`
	DryRun            bool               `ec2:"dryRun"`
	VpcId             string             `ec2:"vpcId,required"`
	TagSpecifications []TagSpecification `ec2:"TagSpecification"`
}

type CreateNetworkAclResult struct {
	NetworkAcl *NetworkAcl `ec2:"networkAcl"`
}

type NetworkAcl struct {
	Associations []NetworkAclAssociation `ec2:"associationSet"`
	Entries      []NetworkAclEntry       `ec2:"entrySet"`
	IsDefault    bool                    `ec2:"default"`
	NetworkAclId string                  `ec2:"networkAclId"`
	Tags         []Tag                   `ec2:"tagSet"`
	VpcId        string                  `ec2:"vpcId"`
	OwnerId      string                  `ec2:"ownerId"`
}

type NetworkAclAssociation struct {
	NetworkAclAssociationId string `ec2:"networkAclAssociationId"`
	NetworkAclId            string `ec2:"networkAclId"`
	SubnetId                string `ec2:"subnetId"`
}

type NetworkAclEntry struct {
	CidrBlock     string        `ec2:"cidrBlock"`
	Egress        bool          `ec2:"egress"`
	IcmpTypeCode  *IcmpTypeCode `ec2:"icmpTypeCode"`
	Ipv6CidrBlock string        `ec2:"ipv6CidrBlock"`
	PortRange     *PortRange    `ec2:"portRange"`
	Protocol      string        `ec2:"protocol"`
	RuleAction    string        `ec2:"ruleAction"`
	RuleNumber    int           `ec2:"ruleNumber"`
}

type IcmpTypeCode struct {
	Code *int `ec2:"code"`
	Type *int `ec2:"type"`
}

type PortRange struct {
	From *int `ec2:"from"`
	To   *int `ec2:"to"`
}

// DescribeNetworkAcls

type DescribeNetworkAclsRequest struct {
	Filters       []Filter `ec2:"Filter"`
	DryRun        bool     `ec2:"dryRun"`
	NetworkAclIds []string `ec2:"NetworkAclId"`
	NextToken     string
	MaxResults    *int
}

type DescribeNetworkAclsResult struct {
	NetworkAcls []NetworkAcl `ec2:"networkAclSet"`
	NextToken   string       `ec2:"nextToken"`
}

// DeleteNetworkAcl

type DeleteNetworkAclRequest struct {
	DryRun       bool   `ec2:"dryRun"`
	NetworkAclId string `ec2:"networkAclId,required"`
}

// CreateNetworkAclEntry

type CreateNetworkAclEntryRequest struct {
	CidrBlock     string        `ec2:"cidrBlock"`
	DryRun        bool          `ec2:"dryRun"`
	Egress        bool          `ec2:"egress,required"`
	IcmpTypeCode  *IcmpTypeCode `ec2:"Icmp"`
	Ipv6CidrBlock string        `ec2:"ipv6CidrBlock"`
	NetworkAclId  string        `ec2:"networkAclId,required"`
	PortRange     *PortRange    `ec2:"portRange"`
	Protocol      string        `ec2:"protocol,required"`
	RuleAction    string        `ec2:"ruleAction,required"`
	RuleNumber    int           `ec2:"ruleNumber,required"`
}

// ReplaceNetworkAclEntry

// ReplaceNetworkAclEntryRequest is the model's own name for the same shape.
type ReplaceNetworkAclEntryRequest CreateNetworkAclEntryRequest

// DeleteNetworkAclEntry

type DeleteNetworkAclEntryRequest struct {
	DryRun       bool   `ec2:"dryRun"`
	Egress       bool   `ec2:"egress,required"`
	NetworkAclId string `ec2:"networkAclId,required"`
	RuleNumber   int    `ec2:"ruleNumber,required"`
}

// ReplaceNetworkAclAssociation

type ReplaceNetworkAclAssociationRequest struct {
	AssociationId string `ec2:"associationId,required"`
	DryRun        bool   `ec2:"dryRun"`
	NetworkAclId  string `ec2:"networkAclId,required"`
}

type ReplaceNetworkAclAssociationResult struct {
	NewAssociationId string `ec2:"newAssociationId"`
}
