package ec2query

// The shapes of EC2's model for tags: each type is named as botocore's
// model names the shape, each field as its member, each tag as its locationName (see fields.go);
// model_test.go holds them to the model. Request types list every member of the model, hostd's
// or Unsupported; output types only what hostd fills in.

type Tag struct {
	Key   string `ec2:"key"`
	Value string `ec2:"value"`
}

type TagSpecification struct {
	ResourceType string `ec2:"resourceType"`
	Tags         []Tag  `ec2:"Tag"`
}

// CreateTags

type CreateTagsRequest struct {
	DryRun    bool     `ec2:"dryRun"`
	Resources []string `ec2:"ResourceId,required"`
	Tags      []Tag    `ec2:"Tag,required"`
}

// DeleteTags

type DeleteTagsRequest struct {
	DryRun    bool     `ec2:"dryRun"`
	Resources []string `ec2:"resourceId,required"`
	Tags      []Tag    `ec2:"tag"`
}

// DescribeTags

type DescribeTagsRequest struct {
	DryRun     bool     `ec2:"dryRun"`
	Filters    []Filter `ec2:"Filter"`
	MaxResults *int     `ec2:"maxResults"`
	NextToken  string   `ec2:"nextToken"`
}

type DescribeTagsResult struct {
	NextToken string           `ec2:"nextToken"`
	Tags      []TagDescription `ec2:"tagSet"`
}

type TagDescription struct {
	Key          string `ec2:"key"`
	ResourceId   string `ec2:"resourceId"`
	ResourceType string `ec2:"resourceType"`
	Value        string `ec2:"value"`
}
