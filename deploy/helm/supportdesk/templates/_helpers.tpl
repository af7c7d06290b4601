{{- define "supportdesk.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "supportdesk.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "supportdesk.labels" -}}
app.kubernetes.io/part-of: supportdesk
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* The environment prefix of a service's settings: sla-clock -> SLA_CLOCK */}}
{{- define "supportdesk.envPrefix" -}}
{{ . | upper | replace "-" "_" }}
{{- end -}}

{{/* Non-secret environment every container gets (also inlined in the migration Job, which runs
     before the ConfigMap exists on a first install). */}}
{{- define "supportdesk.commonEnv" -}}
KAFKA_BOOTSTRAP_SERVERS: {{ .Values.kafka.bootstrapServers | quote }}
KAFKA_TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
KAFKA_SECURITY_PROTOCOL: {{ .Values.kafka.securityProtocol | quote }}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}
KAFKA_SASL_MECHANISM: {{ .Values.kafka.saslMechanism | quote }}
{{- end }}
{{- if .Values.kafka.caSecret }}
KAFKA_SSL_CAFILE: "/etc/supportdesk/kafka-ca/ca.pem"
{{- end }}
{{- range $k, $v := .Values.config }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}

{{/* The Secret a service's pods read: its own, unless one shared Secret is configured. */}}
{{- define "supportdesk.secretName" -}}
{{- if .root.Values.existingSecret -}}
{{ .root.Values.existingSecret }}
{{- else -}}
{{ printf "%s-%s" .root.Values.secretPrefix .service }}
{{- end -}}
{{- end -}}

{{/* A container of the migration Job acting for one service (its Secret, the common env). */}}
{{- define "supportdesk.migrateContainer" -}}
image: {{ include "supportdesk.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
env:
  {{- range $k, $v := (include "supportdesk.commonEnv" .root | fromYaml) }}
  - {name: {{ $k }}, value: {{ $v | quote }}}
  {{- end }}
  {{- include "supportdesk.databaseEnv" . | nindent 2 }}
envFrom:
  - secretRef: {name: {{ include "supportdesk.secretName" . }}}
resources:
  {{- toYaml .root.Values.migrations.resources | nindent 2 }}
securityContext:
  {{- toYaml .root.Values.securityContext | nindent 2 }}
volumeMounts:
  {{- include "supportdesk.volumeMounts" .root | nindent 2 }}
{{- end -}}

{{/* The volumes every pod mounts: a writable /tmp, and the broker's CA when one is given. */}}
{{- define "supportdesk.volumeMounts" -}}
- {name: tmp, mountPath: /tmp}
{{- if .Values.kafka.caSecret }}
- {name: kafka-ca, mountPath: /etc/supportdesk/kafka-ca, readOnly: true}
{{- end }}
{{- if .Values.database.caSecret }}
- {name: postgres-ca, mountPath: /etc/supportdesk/postgres-ca, readOnly: true}
{{- end }}
{{- end -}}

{{- define "supportdesk.volumes" -}}
- {name: tmp, emptyDir: {}}
{{- if .Values.kafka.caSecret }}
- name: kafka-ca
  secret: {secretName: {{ .Values.kafka.caSecret }}, items: [{key: ca.pem, path: ca.pem}]}
{{- end }}
{{- if .Values.database.caSecret }}
- name: postgres-ca
  secret: {secretName: {{ .Values.database.caSecret }}, items: [{key: ca.pem, path: ca.pem}]}
{{- end }}
{{- end -}}

{{/* What every pod may reach: DNS, Kafka and PostgreSQL. */}}
{{- define "supportdesk.baseEgress" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
- ports:
    {{- range (concat .Values.networkPolicy.kafkaPorts .Values.networkPolicy.postgresPorts) }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end -}}

{{/* Refuse to render what would start a service with a placeholder, or put a secret where every
     pod (and anyone who may read ConfigMaps or Deployments) sees it. */}}
{{- define "supportdesk.checkValues" -}}
{{- $secretName := "(?i)(PASSWORD|SECRET|TOKEN|API_KEYS|SIGNING_KEY|BASIC_AUTH)" -}}
{{- $places := dict "config" .Values.config -}}
{{- range $name, $svc := .Values.services }}
{{- $_ := set $places (printf "services.%s.env" $name) ($svc.env | default dict) -}}
{{- end }}
{{- range $where, $vars := $places }}
{{- range $k, $v := $vars }}
{{- if hasPrefix "change-me" (lower (toString $v)) }}
{{- fail (printf "%s.%s holds a placeholder (change-me...): set a real value, and put secrets in the service's Secret" $where $k) }}
{{- end }}
{{- if regexMatch $secretName $k }}
{{- fail (printf "%s.%s looks like a secret: put it in the service's own Secret (docs/operations/deploy.md#secrets), not in values" $where $k) }}
{{- end }}
{{- if and (eq $k "DATABASE_URL") (regexMatch "://[^/@]*:[^/@]*@" (toString $v)) }}
{{- fail (printf "%s.DATABASE_URL carries a password: put it in the service's own Secret" $where) }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A service's database role and database under perServiceRoles: sla-clock -> supportdesk_sla_clock */}}
{{- define "supportdesk.dbRole" -}}
{{ printf "%s%s" .root.Values.database.rolePrefix (.service | replace "-" "_") }}
{{- end -}}

{{/* The DATABASE_URL a service gets under perServiceRoles: its own role, its own database, libpq's
     TLS parameters; the password is PGPASSWORD in its Secret (asyncpg reads it as libpq does). */}}
{{- define "supportdesk.databaseEnv" -}}
{{- $d := .root.Values.database -}}
{{- if $d.perServiceRoles }}
{{- $role := include "supportdesk.dbRole" . }}
{{- $query := list }}
{{- if $d.sslmode }}{{ $query = append $query (printf "sslmode=%s" $d.sslmode) }}{{ end }}
{{- if $d.caSecret }}{{ $query = append $query "sslrootcert=/etc/supportdesk/postgres-ca/ca.pem" }}{{ end }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s@%s:%v/%s%s" $role $d.host $d.port $role (ternary (printf "?%s" (join "&" $query)) "" (gt (len $query) 0)) | quote }}
- {name: {{ printf "%s_DATABASE_NAME" (include "supportdesk.envPrefix" .service) }}, value: {{ $role | quote }}}
{{- end }}
{{- end -}}

{{/* psql script: per service, a login role (no other powers) with the password from the env, and
     a database it owns that no other role may connect to. Idempotent. */}}
{{- define "supportdesk.rolesSql" -}}
{{- range $name, $svc := .Values.services }}
{{- $role := include "supportdesk.dbRole" (dict "root" $ "service" $name) }}
\getenv password {{ printf "PGPASSWORD_%s" (include "supportdesk.envPrefix" $name) }}
SELECT format('CREATE ROLE %I LOGIN', {{ $role | squote }}) WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {{ $role | squote }}) \gexec
ALTER ROLE {{ $role }} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', {{ $role | squote }}, {{ $role | squote }}) WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {{ $role | squote }}) \gexec
REVOKE ALL ON DATABASE {{ $role }} FROM PUBLIC;
GRANT ALL ON DATABASE {{ $role }} TO {{ $role }};
{{- end }}
{{- end -}}
