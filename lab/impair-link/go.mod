module pulumi-etcd-quota/impair-link

go 1.22
