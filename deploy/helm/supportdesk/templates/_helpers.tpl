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
{{- end -}}

{{- define "supportdesk.volumes" -}}
- {name: tmp, emptyDir: {}}
{{- if .Values.kafka.caSecret }}
- name: kafka-ca
  secret: {secretName: {{ .Values.kafka.caSecret }}, items: [{key: ca.pem, path: ca.pem}]}
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
