@tool
extends EditorPlugin
# The Soundtrack node registers itself with class_name; enabling the plugin is all it takes.
