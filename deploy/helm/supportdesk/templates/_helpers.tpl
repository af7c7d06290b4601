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
{{- range $k, $v := .Values.config }}
{{ $k }}: {{ $v | quote }}
{{- end }}
{{- end -}}
