"""The JPEG self-check of www/jpeg-check.js: a 16x16 4:2:0 JPEG (quality 80)
and the RGB pixels Pillow decodes from it, both printed as base64. Run by hand
(tools/.venv: Pillow) and paste the two lines into www/jpeg-check.js."""
import base64
import io

from PIL import Image

im = Image.new("RGB", (16, 16))
px = im.load()
for y in range(16):
    for x in range(16):
        # Colour edges everywhere: chroma upsampling decides most pixels.
        px[x, y] = ((x * 37 + y * 11) % 256, (y * 23 + x * 5) % 256, ((x ^ y) * 19) % 256)
buf = io.BytesIO()
im.save(buf, "JPEG", quality=80, subsampling=2)  # 2 = 4:2:0
jpeg = buf.getvalue()
print(base64.b64encode(jpeg).decode())
print(base64.b64encode(Image.open(io.BytesIO(jpeg)).convert("RGB").tobytes()).decode())
