"""Add-on preferences: which device runs the model, where its weights are, and which backend is active."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from . import engine, user_styles


def _reload_engine(_self, _context) -> None:
    engine.forget_loaded_engines()


class DIFFUSIONTALKER_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    device: EnumProperty(
        name="Device",
        description="Where the model runs",
        items=[
            ("AUTO", "Auto", "CUDA or MPS when torch finds one, else the CPU"),
            ("CPU", "CPU", "Always the CPU"),
            ("GPU", "GPU", "CUDA, or Metal (MPS) on a Mac; runs on the CPU, and says so, when there is none"),
        ],
        default="AUTO",
        update=_reload_engine,
    )
    backend: EnumProperty(
        name="Backend",
        description="What runs the model",
        items=[
            ("AUTO", "Auto", "torch when this Blender has it, else the numpy student"),
            ("TORCH", "torch", "PyTorch (needs torch installed in Blender's Python)"),
            ("NUMPY", "NumPy", "The numpy student: no extra packages, CPU only"),
        ],
        default="AUTO",
        update=_reload_engine,
    )
    weights_dir: StringProperty(
        name="Weights Folder",
        description="Folder with the trained model and style library; empty: the weights shipped with the add-on",
        subtype="DIR_PATH",
        options={"PATH_SUPPORTS_BLEND_RELATIVE"},
        default="",
        update=_reload_engine,
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "device")
        layout.prop(self, "backend")
        layout.prop(self, "weights_dir")
        box = layout.box()
        row = box.row()
        is_model = engine.engine_is_model(self)
        row.label(text=engine.backend_label(self), icon="CHECKMARK" if is_model else "INFO")
        row.operator("diffusiontalker.reload_engine", text="", icon="FILE_REFRESH")
        box.label(text=f"Weights: {engine.weights_dir(self)}")
        box.label(text=f"Your styles: {user_styles.library_path()}")


def get_preferences(context: bpy.types.Context | None = None) -> DIFFUSIONTALKER_AP_preferences | None:
    """This add-on's preferences, or None when it was registered without being enabled (tests, scripts)."""
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


classes = (DIFFUSIONTALKER_AP_preferences,)
register, unregister = bpy.utils.register_classes_factory(classes)
